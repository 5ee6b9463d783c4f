//! strata → tarball → strata keeps everything, byte for byte.

use std::fs;

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

use super::*;
use crate::archive::{export, load};

fn base(store: &Store) -> StoredImage {
    imported(
        store,
        "base:1",
        &[
            ("bin/", b""),
            ("bin/tool", b"#!/bin/sh\necho tool\n"),
            ("etc/", b""),
            ("etc/config", b"a=1\n"),
            ("data/", b""),
            ("data/gone", b"deleted later"),
        ],
    )
}

fn derived(store: &Store, base: &StoredImage) -> StoredImage {
    with_layer(store, base, "app:1", |dir| {
        fs::create_dir(dir.join("app")).unwrap();
        fs::write(dir.join("app/main"), "main\n".repeat(1000)).unwrap();
        if crate::running_as_root() {
            // An overlay whiteout: `data/gone` is deleted in this layer.
            fs::create_dir(dir.join("data")).unwrap();
            let gone = dir.join("data/gone");
            let (kind, mode) = (FileType::CharacterDevice, Mode::empty());
            rustix::fs::mknodat(CWD, &gone, kind, mode, 0).unwrap();
            // An old marker: extraction must keep its time for the layer to regenerate.
            let old = Timespec {
                tv_sec: 1_000_000_000,
                tv_nsec: 0,
            };
            let times = Timestamps {
                last_access: old,
                last_modification: old,
            };
            rustix::fs::utimensat(CWD, &gone, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
        }
    })
}

#[test]
fn a_saved_image_loads_with_the_same_ids_files_and_bytes() {
    let source = store();
    let base = base(&source.store);
    let app = derived(&source.store, &base);
    let archive = saved(&source.store, &[("app:1", &app)], None);
    // Both views are there and agree.
    let index = json_entry(&archive, "index.json");
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/app:1"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    let docker = json_entry(&archive, "manifest.json");
    assert_eq!(docker[0]["RepoTags"], json!(["app:1"]));
    assert_eq!(
        docker[0]["Config"],
        format!("blobs/sha256/{}", app.id.hex())
    );
    assert_eq!(docker[0]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        json_entry(&archive, "oci-layout"),
        json!({"imageLayoutVersion": "1.0.0"})
    );

    let target = store();
    let loaded = load(&target.store, archive.as_slice()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].names, vec!["app:1".to_string()]);
    assert_eq!(loaded[0].id, app.id);
    let again = image::find(&target.store, "app:1").unwrap().unwrap();
    assert_eq!(again.manifest, app.manifest, "the manifest is kept as is");
    assert_eq!(again.diff_ids, app.diff_ids);
    for diff_id in &app.diff_ids {
        assert_eq!(
            listing(&target.store.snapshots().path(diff_id)),
            listing(&source.store.snapshots().path(diff_id))
        );
    }
    // strata's own uncompressed layers are regenerated, not stored twice.
    assert!(!target.store.blobs().exists(&app.diff_ids[1]));
    // And the image saves to the same bytes from its new home.
    assert_eq!(saved(&target.store, &[("app:1", &again)], None), archive);
    // The flattened filesystem: the whiteout hides `data/gone`.
    let mut flat = Vec::new();
    export(&target.store, &again, &mut flat).unwrap();
    let paths: Vec<String> = entries_of(&flat).into_iter().map(|(p, _)| p).collect();
    assert!(paths.contains(&"app/main".to_string()), "{paths:?}");
    assert!(paths.contains(&"etc/config".to_string()), "{paths:?}");
    assert_eq!(
        paths.contains(&"data/gone".to_string()),
        !crate::running_as_root(),
        "{paths:?}"
    );
}

#[test]
fn several_images_share_blobs_and_one_image_asked_twice_is_written_once() {
    let source = store();
    let base = base(&source.store);
    let app = derived(&source.store, &base);
    image::name(&source.store, "app:latest", &app.manifest).unwrap();
    let list = vec![
        (vec!["base:1".to_string()], base.clone()),
        (vec!["app:1".to_string()], app.clone()),
        (vec!["app:latest".to_string()], app.clone()),
    ];
    let mut archive = Vec::new();
    save(&source.store, &list, &SaveOptions::default(), &mut archive).unwrap();
    let entries = entries_of(&archive);
    let base_layer = format!("blobs/sha256/{}", base.diff_ids[0].hex());
    assert_eq!(entries.iter().filter(|(p, _)| *p == base_layer).count(), 1);
    let docker = json_entry(&archive, "manifest.json");
    assert_eq!(docker.as_array().unwrap().len(), 2);
    assert_eq!(docker[1]["RepoTags"], json!(["app:1", "app:latest"]));
    assert_eq!(
        json_entry(&archive, "index.json")["manifests"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let target = store();
    let loaded = load(&target.store, archive.as_slice()).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(
        image::names(&target.store).unwrap().len(),
        3,
        "base:1, app:1, app:latest"
    );
}

#[test]
fn compressed_saves_are_made_once_deterministic_and_load_as_is() {
    let source = store();
    let base = base(&source.store);
    let app = derived(&source.store, &base);
    for compression in [Compression::Gzip, Compression::Zstd] {
        let first = saved(&source.store, &[("app:1", &app)], Some(compression));
        let blobs = source.store.blobs().list().unwrap();
        let second = saved(&source.store, &[("app:1", &app)], Some(compression));
        assert_eq!(first, second, "{compression:?} output is deterministic");
        assert_eq!(
            source.store.blobs().list().unwrap(),
            blobs,
            "nothing recompressed"
        );
        let record = source
            .store
            .index()
            .layer(&app.diff_ids[1])
            .unwrap()
            .unwrap();
        assert!(record.blobs.contains_key(compression.name()));
        let index = json_entry(&first, "index.json");
        let manifest_digest: Digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();

        // A compressed image keeps its manifest and blobs in its new store, and saves back
        // to the same bytes in the same compression.
        let target = store();
        load(&target.store, first.as_slice()).unwrap();
        let loaded = image::find(&target.store, "app:1").unwrap().unwrap();
        assert_eq!(loaded.manifest, manifest_digest);
        assert_eq!(
            saved(&target.store, &[("app:1", &loaded)], Some(compression)),
            first
        );
        // Uncompressed, it is the same image as the original's uncompressed save.
        assert_eq!(
            saved(&target.store, &[("app:1", &loaded)], None),
            saved(&source.store, &[("app:1", &app)], None)
        );
    }
}

#[test]
fn compressed_tarballs_load() {
    let source = store();
    let base = base(&source.store);
    let archive = saved(&source.store, &[("base:1", &base)], None);
    let mut gz = Vec::new();
    crate::layer::compress(Compression::Gzip, &mut archive.as_slice(), &mut gz).unwrap();
    let mut zst = Vec::new();
    crate::layer::compress(Compression::Zstd, &mut archive.as_slice(), &mut zst).unwrap();
    for input in [gz, zst] {
        let target = store();
        let loaded = load(&target.store, input.as_slice()).unwrap();
        assert_eq!(loaded[0].id, base.id);
    }
}

#[test]
fn an_image_saved_by_id_loads_untagged_and_is_found_by_id() {
    let source = store();
    let base = base(&source.store);
    let archive = saved(&source.store, &[("", &base)], None);
    assert_eq!(
        json_entry(&archive, "manifest.json")[0]["RepoTags"],
        json!([])
    );
    let target = store();
    let loaded = load(&target.store, archive.as_slice()).unwrap();
    assert!(loaded[0].names.is_empty());
    let by_id = image::find(&target.store, &base.id.hex()[..12])
        .unwrap()
        .unwrap();
    assert_eq!(by_id.id, base.id);
    assert_eq!(image::untagged(&target.store).unwrap(), vec![base.manifest]);
    // Naming it makes it a tagged image.
    image::name(&target.store, "named:1", &base.manifest).unwrap();
    assert!(image::untagged(&target.store).unwrap().is_empty());
}

#[test]
fn references_resolve_as_docker_resolves_them() {
    let s = store();
    let base = base(&s.store);
    let found = |r: &str| image::find(&s.store, r).unwrap().map(|i| i.id);
    assert_eq!(found("base:1"), Some(base.id));
    assert_eq!(found("docker.io/library/base:1"), Some(base.id));
    assert_eq!(found("base"), None, "base means base:latest");
    assert_eq!(found(&base.id.to_string()), Some(base.id));
    assert_eq!(found(&base.id.hex()), Some(base.id));
    assert_eq!(found(&base.id.hex()[..6]), Some(base.id));
    assert_eq!(found(&format!("base@{}", base.manifest)), Some(base.id));
    assert_eq!(found(&format!("other@{}", base.manifest)), None);
    assert_eq!(found("nothing:here"), None);
}

#[test]
fn a_snapshot_changed_on_disk_is_refused_on_save() {
    let s = store();
    let base = base(&s.store);
    let app = with_layer(&s.store, &base, "app:1", |dir| {
        fs::write(dir.join("file"), "as built").unwrap();
    });
    let layer = app.diff_ids.last().unwrap();
    // Same size, other bytes: only the regenerated tar's DiffID can tell.
    fs::write(s.store.snapshots().path(layer).join("file"), "tampered").unwrap();
    let list = vec![(vec!["app:1".to_string()], app.clone())];
    let mut out = Vec::new();
    let err = crate::archive::save(
        &s.store,
        &list,
        &crate::archive::SaveOptions { compression: None },
        &mut out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("changed on disk"), "{err}");
}

#[test]
fn a_name_that_moves_leaves_the_old_image_untagged_as_docker_does() {
    let s = store();
    let old = imported(&s.store, "app:1", &[("a", b"old")]);
    let new = imported(&s.store, "app:2", &[("a", b"new")]);
    assert!(image::untagged(&s.store).unwrap().is_empty());
    image::name(&s.store, "app:1", &new.manifest).unwrap();
    assert_eq!(image::untagged(&s.store).unwrap(), vec![old.manifest]);
    // An image that keeps another name is not untagged when one of its names moves.
    image::name(&s.store, "other:1", &new.manifest).unwrap();
    image::name(&s.store, "other:1", &old.manifest).unwrap();
    assert_eq!(image::untagged(&s.store).unwrap(), Vec::<Digest>::new());
    assert_eq!(image::names_of(&s.store, &new.manifest).unwrap().len(), 2);
}
