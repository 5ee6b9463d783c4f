//! The reader, flattener and comparison on hand-made tarballs: if these are wrong, every
//! differential verdict is.

use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use super::compare::{compare, judge, parse_expected};
use super::image::{apply_layer, from_members, Kind};

/// A layer tar from (path, kind, mode, uid, content or link target).
fn layer(entries: &[(&str, char, u32, u64, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, mode, uid, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_uid(*uid);
        header.set_gid(*uid);
        header.set_mtime(1);
        match kind {
            'd' => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            'l' | 'h' => {
                header.set_entry_type(if *kind == 'l' {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                header.set_size(0);
                builder.append_link(&mut header, path, data).unwrap();
            }
            'p' => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            _ => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, path, data.as_bytes())
                    .unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn lower_and_upper() -> (Vec<u8>, Vec<u8>) {
    let lower = layer(&[
        ("./", 'd', 0o755, 0, ""),
        ("./etc/", 'd', 0o755, 0, ""),
        ("./etc/passwd", 'f', 0o644, 0, "root\n"),
        ("./etc/motd", 'f', 0o644, 0, "hi\n"),
        ("./opt/", 'd', 0o755, 0, ""),
        ("./opt/keep/", 'd', 0o755, 0, ""),
        ("./opt/keep/a", 'f', 0o644, 0, "a"),
        ("./opt/gone/", 'd', 0o755, 0, ""),
        ("./opt/gone/deep/", 'd', 0o755, 0, ""),
        ("./opt/gone/deep/b", 'f', 0o644, 0, "b"),
        ("./opt/opaque/", 'd', 0o755, 0, ""),
        ("./opt/opaque/old", 'f', 0o644, 0, "old"),
        ("./opt/becomes-file/", 'd', 0o755, 0, ""),
        ("./opt/becomes-file/x", 'f', 0o644, 0, "x"),
    ]);
    let upper = layer(&[
        ("etc/", 'd', 0o700, 0, ""),
        ("etc/.wh.motd", 'f', 0o644, 0, ""),
        ("opt/.wh.gone", 'f', 0o644, 0, ""),
        ("opt/opaque/", 'd', 0o750, 1000, ""),
        ("opt/opaque/.wh..wh..opq", 'f', 0o644, 0, ""),
        ("opt/opaque/new", 'f', 0o600, 1000, "new"),
        ("opt/becomes-file", 'f', 0o644, 0, "now a file"),
        ("opt/link", 'l', 0o777, 0, "keep/a"),
        ("opt/hard", 'h', 0o644, 0, "opt/keep/a"),
        ("opt/fifo", 'p', 0o600, 0, ""),
    ]);
    (lower, upper)
}

#[test]
fn layers_apply_with_oci_whiteouts() {
    let (lower, upper) = lower_and_upper();
    let mut files = Default::default();
    apply_layer(&mut files, &lower).unwrap();
    apply_layer(&mut files, &upper).unwrap();
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "/etc",
            "/etc/passwd",
            "/opt",
            "/opt/becomes-file",
            "/opt/fifo",
            "/opt/hard",
            "/opt/keep",
            "/opt/keep/a",
            "/opt/link",
            "/opt/opaque",
            "/opt/opaque/new",
        ]
    );
    assert_eq!(
        files["/etc"].mode, 0o700,
        "an upper dir entry replaces the metadata"
    );
    assert_eq!(files["/opt/opaque"].uid, 1000);
    assert_eq!(files["/opt/opaque/new"].size, 3);
    assert_eq!(files["/opt/becomes-file"].kind, Kind::File);
    assert_eq!(files["/opt/link"].kind, Kind::Symlink);
    assert_eq!(files["/opt/link"].link, "keep/a");
    assert_eq!(files["/opt/fifo"].kind, Kind::Fifo);
    assert_eq!(
        files["/opt/hard"], files["/opt/keep/a"],
        "a hard link is its target"
    );
    assert_eq!(
        files["/opt/keep/a"].sha256,
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    );
}

#[test]
fn a_whiteout_hides_lower_layers_only() {
    // The same layer may whiteout a name and add it again: the new entry stays.
    let lower = layer(&[("d/", 'd', 0o755, 0, ""), ("d/f", 'f', 0o644, 0, "old")]);
    let upper = layer(&[
        ("d/", 'd', 0o755, 0, ""),
        ("d/f", 'f', 0o644, 0, "new!"),
        ("d/.wh..wh..opq", 'f', 0o644, 0, ""),
    ]);
    let mut files = Default::default();
    apply_layer(&mut files, &lower).unwrap();
    apply_layer(&mut files, &upper).unwrap();
    assert_eq!(files["/d/f"].size, 4);
}

#[test]
fn a_hard_link_to_nothing_is_an_error() {
    let bad = layer(&[("a", 'h', 0o644, 0, "missing")]);
    let err = apply_layer(&mut Default::default(), &bad).unwrap_err();
    assert!(err.contains("hard link to `/missing`"), "{err}");
}

fn config() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": null,
            "Entrypoint": [],
            "WorkingDir": "",
            "User": "app",
            "ExposedPorts": {"80/tcp": {}},
            "Labels": {"empty": ""},
            "Volumes": {},
            "Healthcheck": {"Test": ["NONE"], "Interval": 0},
            "OnBuild": null,
            "Hostname": "ignored"
        },
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap()
}

#[test]
fn legacy_docker_save_reads() {
    let (lower, upper) = lower_and_upper();
    let members: HashMap<String, Vec<u8>> = [
        (
            "manifest.json".to_string(),
            br#"[{"Config":"abc.json","RepoTags":["x:1"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#
                .to_vec(),
        ),
        ("abc.json".to_string(), config()),
        ("l1/layer.tar".to_string(), lower),
        ("l2/layer.tar".to_string(), upper),
    ]
    .into();
    let image = from_members(&members).unwrap();
    assert_eq!(image.files.len(), 11);
    let keys: Vec<&str> = image.config.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "architecture",
            "config.Env",
            "config.ExposedPorts",
            "config.Healthcheck",
            "config.Labels",
            "config.User",
            "os"
        ],
        "null, empty and zero values are unset; other fields are not compared"
    );
    assert_eq!(
        image.config["config.Healthcheck"],
        json!({"Test": ["NONE"]})
    );
    assert_eq!(
        image.config["config.Labels"],
        json!({"empty": ""}),
        "a label set to the empty string is set"
    );
}

#[test]
fn oci_layout_with_gzip_blobs_reads() {
    let (lower, upper) = lower_and_upper();
    let members: HashMap<String, Vec<u8>> = [
        (
            "manifest.json".to_string(),
            br#"[{"Config":"blobs/sha256/c","RepoTags":["x:1"],"Layers":["blobs/sha256/1","./blobs/sha256/2"]}]"#
                .to_vec(),
        ),
        ("blobs/sha256/c".to_string(), config()),
        ("blobs/sha256/1".to_string(), gzip(&lower)),
        ("blobs/sha256/2".to_string(), upper),
    ]
    .into();
    let image = from_members(&members).unwrap();
    assert_eq!(image.files.len(), 11);
}

#[test]
fn a_missing_layer_is_named() {
    let members: HashMap<String, Vec<u8>> = [
        (
            "manifest.json".to_string(),
            br#"[{"Config":"c.json","Layers":["nope/layer.tar"]}]"#.to_vec(),
        ),
        ("c.json".to_string(), config()),
    ]
    .into();
    let err = from_members(&members).unwrap_err();
    assert!(err.contains("`nope/layer.tar`"), "{err}");
}

#[test]
fn differences_name_the_field_and_both_values() {
    let (lower, upper) = lower_and_upper();
    let mut a = super::image::Image::default();
    apply_layer(&mut a.files, &lower).unwrap();
    let mut b = super::image::Image::default();
    apply_layer(&mut b.files, &lower).unwrap();
    apply_layer(&mut b.files, &upper).unwrap();
    a.config.insert("config.User".into(), json!("app"));
    let diffs = compare(&a, &b);
    let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(&"config.User: docker \"app\" | strata (unset)".to_string()),
        "{text:#?}"
    );
    assert!(
        text.contains(&"/etc: mode docker 0755 | strata 0700".to_string()),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("/etc/motd: only in docker (File 0644 0:0 3 bytes")),
        "{text:#?}"
    );

    let expected = parse_expected(
        "# comment\nconfig.User  docker's daemon sets it\n/opt/gone  removed by a whiteout\n/opt/gone/**  and what was under it\n/never  a stale entry\n",
        "x",
    )
    .unwrap();
    let verdict = judge(diffs, &expected);
    assert!(!verdict.passed());
    assert_eq!(verdict.stale.len(), 1);
    assert_eq!(verdict.stale[0].key, "/never");
    assert!(verdict
        .explained
        .iter()
        .any(|(d, _)| d.key == "/opt/gone/deep/b"));
    assert!(verdict
        .unexpected
        .iter()
        .all(|d| !d.key.starts_with("/opt/gone")));
}

#[test]
fn an_expected_difference_needs_a_reason() {
    let err = parse_expected("config.User\n", "cases/x/expected-differences").unwrap_err();
    assert!(err.contains("cases/x/expected-differences:1"), "{err}");
}

#[test]
fn a_repeated_layer_saved_as_a_symlink_reads() {
    // docker 20.10 writes the second copy of an identical layer as `../<id>/layer.tar`.
    let one = layer(&[("d/", 'd', 0o755, 0, ""), ("d/f", 'f', 0o644, 0, "one")]);
    let mut outer = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        outer.append_data(&mut header, path, data).unwrap();
    };
    add(
        "manifest.json",
        br#"[{"Config":"c.json","Layers":["a/layer.tar","b/layer.tar"]}]"#,
    );
    add("c.json", &config());
    add("a/layer.tar", &one);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    outer
        .append_link(&mut header, "b/layer.tar", "../a/layer.tar")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.tar");
    std::fs::write(&path, outer.into_inner().unwrap()).unwrap();
    let image = super::image::read_saved(&path).unwrap();
    assert_eq!(image.files["/d/f"].size, 3);
}
