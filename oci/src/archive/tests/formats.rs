//! Archives other tools write: docker's legacy layout, Docker 25+, nested OCI indexes.

use super::*;
use crate::archive::load;
use crate::image::manifest::{build_manifest, host_platform, Desc};

fn blob(path_digest: &Digest) -> String {
    format!("blobs/sha256/{}", path_digest.hex())
}

#[test]
fn docker_legacy_archives_load_with_linked_duplicate_layers() {
    let a = tar_of(&[("a/", b""), ("a/file", b"layer a")]);
    let b = tar_of(&[("b/", b""), ("b/file", b"layer b")]);
    let (da, db) = (Digest::of(&a), Digest::of(&b));
    let config = config_json(&[da, db, da], "legacy");
    let config_digest = Digest::of(&config);
    let ids = ["1".repeat(64), "2".repeat(64), "3".repeat(64)];
    let manifest = json!([{
        "Config": format!("{}.json", config_digest.hex()),
        "RepoTags": ["legacy:1", "docker.io/library/legacy:latest"],
        "Layers": ids.iter().map(|id| format!("{id}/layer.tar")).collect::<Vec<_>>(),
    }]);
    let mut entries = Vec::new();
    for (id, layer) in ids.iter().zip([Some(&a), Some(&b), None]) {
        entries.push((format!("{id}/"), b'5', String::new(), Vec::new()));
        entries.push(file(&format!("{id}/VERSION"), "1.0"));
        entries.push(file(&format!("{id}/json"), format!(r#"{{"id":"{id}"}}"#)));
        match layer {
            Some(bytes) => entries.push(file(&format!("{id}/layer.tar"), bytes.clone())),
            // docker links a layer it already wrote.
            None => entries.push((
                format!("{id}/layer.tar"),
                b'2',
                format!("../{}/layer.tar", ids[0]),
                Vec::new(),
            )),
        }
    }
    entries.push(file(
        &format!("{}.json", config_digest.hex()),
        config.clone(),
    ));
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    entries.push(file(
        "repositories",
        format!(r#"{{"legacy":{{"1":"{}"}}}}"#, ids[2]),
    ));
    let s = store();
    let loaded = load(&s.store, raw_tar(&entries).as_slice()).unwrap();
    assert_eq!(loaded[0].names, vec!["legacy:1", "legacy:latest"]);
    assert_eq!(loaded[0].id, config_digest);
    let image = image::find(&s.store, "legacy").unwrap().unwrap();
    assert_eq!(image.diff_ids, vec![da, db, da]);
    assert_eq!(
        std::fs::read(s.store.snapshots().path(&db).join("b/file")).unwrap(),
        b"layer b"
    );
    // Docker's tars are not strata's: the original bytes are kept to give back the DiffID.
    let record = s.store.index().layer(&da).unwrap().unwrap();
    assert_eq!(record.blobs["none"].digest, da);
    // Legacy JSON files are not kept.
    let kept: Vec<Digest> = s
        .store
        .blobs()
        .list()
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(
        kept.len(),
        4,
        "2 layers, the config, a written manifest: {kept:?}"
    );
    // Saved again, the layers are the original bytes.
    let archive = saved(&s.store, &[("legacy:1", &image)], None);
    let files = entries_of(&archive);
    assert!(files.iter().any(|(p, c)| *p == blob(&da) && *c == a));
}

#[test]
fn docker_25_archives_merge_the_names_of_both_views() {
    let s = store();
    let base = imported(&s.store, "one:1", &[("f", b"x")]);
    let archive = saved(&s.store, &[("one:1", &base)], None);
    // Docker 25 lists every name in manifest.json; add one only it knows.
    let mut entries: Vec<RawEntry> = Vec::new();
    for (path, content) in entries_of(&archive) {
        let content = if path == "manifest.json" {
            let mut m: serde_json::Value = serde_json::from_slice(&content).unwrap();
            m[0]["RepoTags"] = json!(["one:1", "two:2"]);
            serde_json::to_vec(&m).unwrap()
        } else {
            content
        };
        entries.push(file(&path, content));
    }
    let target = store();
    let loaded = load(&target.store, raw_tar(&entries).as_slice()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].names, vec!["one:1", "two:2"]);
}

#[test]
fn nested_indexes_resolve_to_this_platform_and_skip_attestations() {
    let layer = tar_of(&[("hello", b"world")]);
    let mut gz = Vec::new();
    crate::layer::compress(Compression::Gzip, &mut layer.as_slice(), &mut gz).unwrap();
    let config = config_json(&[Digest::of(&layer)], "native");
    let other_config = config_json(&[Digest::of(b"elsewhere")], "foreign");
    let desc = |media: &str, bytes: &[u8]| Desc {
        media_type: media.into(),
        digest: Digest::of(bytes),
        size: bytes.len() as u64,
    };
    let config_desc = desc("application/vnd.oci.image.config.v1+json", &config);
    let native = build_manifest(
        &config_desc,
        &[desc("application/vnd.oci.image.layer.v1.tar+gzip", &gz)],
    )
    .unwrap();
    let foreign = build_manifest(
        &desc("application/vnd.oci.image.config.v1+json", &other_config),
        &[desc("application/vnd.oci.image.layer.v1.tar", b"elsewhere")],
    )
    .unwrap();
    let foreign_platform = if host_platform() == "linux/arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let entry = |bytes: &[u8], platform: serde_json::Value| {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": Digest::of(bytes).to_string(),
            "size": bytes.len(),
            "platform": platform,
        })
    };
    let (os, arch) = host_platform()
        .split_once('/')
        .map(|(o, a)| (o.to_string(), a.to_string()))
        .unwrap();
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            entry(&foreign, json!({"os": "linux", "architecture": foreign_platform})),
            entry(&native, json!({"os": os, "architecture": arch})),
            entry(&foreign, json!({"os": "unknown", "architecture": "unknown"})),
        ],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": Digest::of(&nested).to_string(),
            "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi:2"},
        }],
    }))
    .unwrap();
    let mut entries = vec![file("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#)];
    for bytes in [
        &gz,
        &config,
        &other_config,
        &native,
        &foreign,
        &nested,
        &b"elsewhere".to_vec(),
    ] {
        entries.push(file(&blob(&Digest::of(bytes)), bytes.clone()));
    }
    entries.push(file("index.json", index));
    let s = store();
    let loaded = load(&s.store, raw_tar(&entries).as_slice()).unwrap();
    assert_eq!(loaded[0].names, vec!["multi:2"]);
    assert_eq!(loaded[0].id, Digest::of(&config));
    let image = image::find(&s.store, "multi:2").unwrap().unwrap();
    assert_eq!(image.manifest, Digest::of(&native), "kept as is");
    assert!(
        s.store.blobs().exists(&Digest::of(&gz)),
        "the gzip blob is kept"
    );
    assert!(
        !s.store.blobs().exists(&Digest::of(&foreign)),
        "other platforms go"
    );
    assert!(!s.store.blobs().exists(&Digest::of(&nested)));
    assert_eq!(
        s.store
            .index()
            .layer(&Digest::of(&layer))
            .unwrap()
            .unwrap()
            .blobs["gzip"]
            .digest,
        Digest::of(&gz)
    );
}

#[test]
fn a_strata_shaped_layer_that_does_not_regenerate_exactly_keeps_its_bytes() {
    // strata's own tar, then one more zero block: the files are the same, the tar is not, so
    // the layer cannot be regenerated from its snapshot and its blob must stay.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "content").unwrap();
    let mut layer = Vec::new();
    crate::layer::write_layer(dir.path(), &Default::default(), &mut layer).unwrap();
    layer.extend_from_slice(&[0u8; 512]);
    let diff_id = Digest::of(&layer);
    let config = config_json(&[diff_id], "padded");
    let config_digest = Digest::of(&config);
    let id = "4".repeat(64);
    let manifest = json!([{
        "Config": format!("{}.json", config_digest.hex()),
        "RepoTags": ["padded:1"],
        "Layers": [format!("{id}/layer.tar")],
    }]);
    let entries = vec![
        file(&format!("{id}/layer.tar"), layer.clone()),
        file(&format!("{}.json", config_digest.hex()), config),
        file("manifest.json", serde_json::to_vec(&manifest).unwrap()),
    ];
    let s = store();
    load(&s.store, raw_tar(&entries).as_slice()).unwrap();
    let record = s.store.index().layer(&diff_id).unwrap().unwrap();
    assert_eq!(record.blobs["none"].digest, diff_id, "{record:?}");
    assert_eq!(s.store.blobs().read(&diff_id).unwrap(), layer);
    assert_eq!(
        std::fs::read(s.store.snapshots().path(&diff_id).join("f")).unwrap(),
        b"content"
    );
}
