//! An OCI layout directory (what `save` writes, unpacked) → one unnamed image in another
//! store, picked by tag, digest or as the only entry; a bad blob leaves nothing behind.

use std::fs;

use super::*;
use crate::archive::{exported_manifest, load_layout, LayoutRef};

/// A two-layer image saved gzip-compressed as `app:1` and unpacked into a layout directory.
fn layout_of_app(dir: &Path) -> StoredImage {
    let source = store();
    let base = imported(&source.store, "base:1", &[("etc/", b""), ("etc/os", b"x")]);
    let app = with_layer(&source.store, &base, "app:1", |d| {
        fs::write(d.join("main"), "main\n").unwrap();
    });
    let archive = saved(&source.store, &[("app:1", &app)], Some(Compression::Gzip));
    tar::Archive::new(archive.as_slice()).unpack(dir).unwrap();
    app
}

fn reference(dir: &Path, tag: &str) -> LayoutRef {
    LayoutRef {
        dir: dir.to_path_buf(),
        tag: tag.into(),
        digest: None,
    }
}

#[test]
fn a_layout_image_loads_unnamed_with_its_ids_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let app = layout_of_app(dir.path());
    let target = store();
    let loaded = load_layout(&target.store, &reference(dir.path(), "1"), None).unwrap();
    assert_eq!(loaded.id, app.id);
    assert_eq!(loaded.diff_ids, app.diff_ids);
    for diff_id in &loaded.diff_ids {
        assert!(target.store.snapshots().exists(diff_id));
    }
    // Found by its ID, listed under no name.
    let found = image::find(&target.store, &app.id.to_string()).unwrap();
    assert_eq!(found.map(|i| i.manifest), Some(loaded.manifest));
    assert!(image::names(&target.store).unwrap().is_empty());
    // The manifest is the layout's: the gzip one, which save or push would give again.
    let gzip = exported_manifest(&target.store, &loaded, Some(Compression::Gzip)).unwrap();
    assert_eq!(gzip.digest, loaded.manifest);
    // By digest, and as the only entry, it is the same image; loading again changes nothing.
    let by_digest = LayoutRef {
        digest: Some(loaded.manifest),
        ..reference(dir.path(), "other")
    };
    let before = inventory(&target.store);
    assert_eq!(
        load_layout(&target.store, &by_digest, None).unwrap().id,
        app.id
    );
    assert_eq!(
        load_layout(&target.store, &reference(dir.path(), "latest"), None)
            .unwrap()
            .id,
        app.id,
        "the only entry is taken when no tag matches"
    );
    assert_eq!(inventory(&target.store), before);
}

#[test]
fn a_missing_tag_and_a_tampered_blob_fail_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = layout_of_app(dir.path());
    // A second entry: `latest` no longer falls back to the only one.
    let index_path = dir.path().join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let mut second = index["manifests"][0].clone();
    second["annotations"]["org.opencontainers.image.ref.name"] = json!("2");
    index["manifests"].as_array_mut().unwrap().push(second);
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let target = store();
    let before = inventory(&target.store);
    let error = load_layout(&target.store, &reference(dir.path(), "latest"), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("has no image tagged `latest` (tags: 1, 2)"),
        "{error}"
    );
    // The top layer's blob no longer matches its digest.
    let top = fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let bytes = fs::read(p).unwrap();
            bytes.starts_with(&[0x1f, 0x8b]) && p.file_name().unwrap() != app.id.hex().as_str()
        })
        .expect("a gzip layer");
    fs::write(&top, b"\x1f\x8b not the layer").unwrap();
    let error = load_layout(&target.store, &reference(dir.path(), "1"), None).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&format!("in `{}`: digest mismatch", dir.path().display())),
        "{message}"
    );
    assert_eq!(inventory(&target.store), before);
}
