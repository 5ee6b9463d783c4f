//! Hostile and broken tarballs: every one is refused with a clear reason, nothing lands
//! outside the store, and the store is exactly as it was before (an image already there keeps
//! its records, names and files).

use std::fs;

use super::*;
use crate::archive::load;

/// A docker-archive with one image over `layers` (blob bytes), its config claiming
/// `diff_ids` (the real ones when `None`), named `name`.
fn archive_with(layers: &[Vec<u8>], diff_ids: Option<Vec<Digest>>, name: &str) -> Vec<RawEntry> {
    let diff_ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| Digest::of(l)).collect());
    let config = config_json(&diff_ids, name);
    let path = |bytes: &[u8]| format!("blobs/sha256/{}", Digest::of(bytes).hex());
    let manifest = json!([{
        "Config": path(&config),
        "RepoTags": [name],
        "Layers": layers.iter().map(|l| path(l)).collect::<Vec<_>>(),
    }]);
    let mut entries: Vec<RawEntry> = layers.iter().map(|l| file(&path(l), l.clone())).collect();
    entries.push(file(&path(&config), config.clone()));
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    entries
}

/// A layer tar with raw entries.
fn layer(entries: &[RawEntry]) -> Vec<u8> {
    raw_tar(entries)
}

#[test]
fn hostile_and_broken_archives_are_refused_and_undone() {
    let s = store();
    // Something already in the store, sharing a layer with the archives below.
    let shared = tar_of(&[("shared", b"shared layer")]);
    let existing = imported(&s.store, "existing:1", &[("keep", b"me")]);
    let before_any = inventory(&s.store);
    let escape = format!("strata-escape-{}", std::process::id());
    let good_layer = tar_of(&[("ok", b"fine")]);
    let zero = "0".repeat(64);
    let mut truncated = raw_tar(&archive_with(
        std::slice::from_ref(&good_layer),
        None,
        "cut:1",
    ));
    truncated.truncate(truncated.len() / 2);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            raw_tar(&[file(&format!("../{escape}"), "x")]),
            "escapes the archive",
        ),
        (
            "absolute",
            raw_tar(&[file(&format!("/tmp/{escape}"), "x")]),
            "escapes the archive",
        ),
        (
            "symlink out",
            raw_tar(&[
                ("layer.tar".into(), b'2', "../../etc/passwd".into(), vec![]),
                file("manifest.json", "[]"),
            ]),
            "points outside the archive",
        ),
        (
            "hardlink out",
            raw_tar(&[
                ("layer.tar".into(), b'1', "../outside".into(), vec![]),
                file("manifest.json", "[]"),
            ]),
            "points outside the archive",
        ),
        (
            "device",
            raw_tar(&[("dev".into(), b'3', String::new(), vec![])]),
            "unsupported type",
        ),
        (
            "digest mismatch",
            raw_tar(&[file(&format!("blobs/sha256/{zero}"), "not that")]),
            "does not match its digest",
        ),
        (
            "bad digest name",
            raw_tar(&[file("blobs/sha256/xyz", "x")]),
            "not named by a sha256 digest",
        ),
        (
            "other algorithm",
            raw_tar(&[file(&format!("blobs/sha512/{zero}"), "x")]),
            "not supported",
        ),
        (
            "missing blob",
            raw_tar(&[file(
                "manifest.json",
                format!(
                    r#"[{{"Config":"blobs/sha256/{zero}","RepoTags":["evil:1"],"Layers":[]}}]"#
                ),
            )]),
            "missing",
        ),
        (
            "missing manifest",
            raw_tar(&[file(
                "index.json",
                format!(
                    r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{zero}","size":2}}]}}"#
                ),
            )]),
            "missing from the archive",
        ),
        (
            "not an archive",
            raw_tar(&[file("readme", "hello")]),
            "not an image archive",
        ),
        ("garbage", b"this is not a tar at all".repeat(40), "reading"),
        ("truncated", truncated, ""),
        (
            "duplicate entry",
            raw_tar(&[file("manifest.json", "[]"), file("manifest.json", "[]")]),
            "appears twice",
        ),
        (
            "diffid mismatch",
            raw_tar(&archive_with(
                &[shared.clone(), good_layer.clone()],
                Some(vec![Digest::of(&shared), Digest::of(b"something else")]),
                "liar:1",
            )),
            "but the config says",
        ),
        (
            "dotdot in a layer",
            raw_tar(&archive_with(
                &[
                    shared.clone(),
                    layer(&[file(&format!("../../{escape}"), "x")]),
                ],
                None,
                "evil:1",
            )),
            "layer",
        ),
        (
            "write through a symlink in a layer",
            raw_tar(&archive_with(
                &[layer(&[
                    ("up".into(), b'2', "../../../../../../..".into(), vec![]),
                    file(&format!("up/tmp/{escape}"), "x"),
                ])],
                None,
                "evil:2",
            )),
            "layer",
        ),
        (
            "hardlink out of a layer",
            raw_tar(&archive_with(
                &[layer(&[(
                    "passwd".into(),
                    b'1',
                    "../../../../etc/passwd".into(),
                    vec![],
                )])],
                None,
                "evil:3",
            )),
            "layer",
        ),
    ];
    // An image already in the store named again by a broken image: the name must survive.
    cases.push((
        "broken image with an existing name",
        raw_tar(&archive_with(
            std::slice::from_ref(&shared),
            Some(vec![Digest::of(b"wrong")]),
            "existing:1",
        )),
        "but the config says",
    ));
    // A good image first, then a broken one: the good one is undone too.
    let mut both = archive_with(std::slice::from_ref(&shared), None, "good:1");
    let broken = archive_with(
        std::slice::from_ref(&good_layer),
        Some(vec![Digest::of(b"x")]),
        "bad:1",
    );
    let docker_manifest = |entries: &[RawEntry]| -> serde_json::Value {
        serde_json::from_slice(&entries.iter().find(|e| e.0 == "manifest.json").unwrap().3).unwrap()
    };
    let mut merged = docker_manifest(&both);
    merged
        .as_array_mut()
        .unwrap()
        .push(docker_manifest(&broken)[0].clone());
    both.retain(|e| e.0 != "manifest.json");
    both.extend(broken.into_iter().filter(|e| e.0 != "manifest.json"));
    both.push(file("manifest.json", serde_json::to_vec(&merged).unwrap()));
    cases.push(("good then broken", raw_tar(&both), "but the config says"));
    // Two images claiming one name.
    let mut twins = archive_with(std::slice::from_ref(&shared), None, "twin:1");
    let other = archive_with(std::slice::from_ref(&good_layer), None, "twin:1");
    let mut merged = docker_manifest(&twins);
    merged
        .as_array_mut()
        .unwrap()
        .push(docker_manifest(&other)[0].clone());
    twins.retain(|e| e.0 != "manifest.json");
    twins.extend(other.into_iter().filter(|e| e.0 != "manifest.json"));
    twins.push(file("manifest.json", serde_json::to_vec(&merged).unwrap()));
    cases.push((
        "one name, two images",
        raw_tar(&twins),
        "names two different images",
    ));

    for (name, archive, reason) in cases {
        let error = load(&s.store, archive.as_slice())
            .map(|l| format!("{l:?}"))
            .expect_err(name)
            .to_string();
        assert!(error.contains("invalid image archive"), "{name}: {error}");
        assert!(error.contains(reason), "{name}: `{error}` lacks `{reason}`");
        assert_eq!(inventory(&s.store), before_any, "{name} changed the store");
        let beside: Vec<_> = fs::read_dir(s.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(beside, vec!["root"], "{name} wrote beside the store");
        assert!(
            !std::path::Path::new("/tmp").join(&escape).exists(),
            "{name} escaped"
        );
        assert!(
            !s.store.root().join(&escape).exists(),
            "{name} escaped into the root"
        );
    }
    assert_eq!(
        image::find(&s.store, "existing:1")
            .unwrap()
            .unwrap()
            .manifest,
        existing.manifest
    );
    // And after all that, a good archive still loads.
    let good = raw_tar(&archive_with(&[shared, good_layer], None, "fine:1"));
    assert_eq!(
        load(&s.store, good.as_slice()).unwrap()[0].names,
        vec!["fine:1"]
    );
}

#[test]
fn a_descriptor_with_the_wrong_size_is_refused() {
    let s = store();
    let source = store();
    let base = imported(&source.store, "sized:1", &[("f", b"x")]);
    let archive = saved(&source.store, &[("sized:1", &base)], None);
    let mut entries: Vec<RawEntry> = Vec::new();
    for (path, content) in entries_of(&archive) {
        let content = if path == "index.json" {
            let mut index: serde_json::Value = serde_json::from_slice(&content).unwrap();
            index["manifests"][0]["size"] = json!(1);
            serde_json::to_vec(&index).unwrap()
        } else if path == "manifest.json" {
            continue;
        } else {
            content
        };
        entries.push(file(&path, content));
    }
    let before = inventory(&s.store);
    let error = load(&s.store, raw_tar(&entries).as_slice())
        .unwrap_err()
        .to_string();
    assert!(error.contains("its descriptor says 1"), "{error}");
    assert_eq!(inventory(&s.store), before);
}
