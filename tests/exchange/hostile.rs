//! Hostile tarballs through the CLI: refused with a clear error, nothing written outside the
//! store and nothing left in it. (The library's own tests cover many more cases.)

use std::fs;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::env_with_busybox;
use crate::util::TestEnv;

/// One raw tar entry: name, type flag, link target, content.
type RawEntry = (String, u8, String, Vec<u8>);

fn file(name: &str, content: impl Into<Vec<u8>>) -> RawEntry {
    (name.to_string(), b'0', String::new(), content.into())
}

/// Writes a tar with raw entries, as a hostile tool would.
fn raw_tar(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, content) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        header.set_entry_type(tar::EntryType::new(*kind));
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(content);
        out.extend(std::iter::repeat_n(0u8, (512 - content.len() % 512) % 512));
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A docker-archive whose only layer is `layer`.
fn archive_with_layer(layer: Vec<u8>) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex(&layer))]},
    })
    .to_string();
    let manifest = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", hex(config.as_bytes())),
        "RepoTags": ["evil:1"],
        "Layers": [format!("blobs/sha256/{}", hex(&layer))],
    }])
    .to_string();
    raw_tar(&[
        file(&format!("blobs/sha256/{}", hex(&layer)), layer),
        file(
            &format!("blobs/sha256/{}", hex(config.as_bytes())),
            config.clone(),
        ),
        file("manifest.json", manifest),
    ])
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn hostile_tarballs_are_rejected_and_leave_nothing_behind() {
    let env = TestEnv::new();
    env.ok(&["images"]);
    let escape = format!("strata-escape-{}", std::process::id());
    let zero = "0".repeat(64);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", raw_tar(&[file(&format!("../{escape}"), "x")])),
        ("absolute", raw_tar(&[file(&format!("/tmp/{escape}"), "x")])),
        (
            "symlink-out",
            raw_tar(&[
                ("layer.tar".into(), b'2', "../../etc/passwd".into(), vec![]),
                file("manifest.json", "[]"),
            ]),
        ),
        (
            "hardlink-out",
            raw_tar(&[
                ("layer.tar".into(), b'1', "../outside".into(), vec![]),
                file("manifest.json", "[]"),
            ]),
        ),
        (
            "digest-mismatch",
            raw_tar(&[file(&format!("blobs/sha256/{zero}"), "not that")]),
        ),
        (
            "missing-blob",
            raw_tar(&[file(
                "manifest.json",
                format!(
                    r#"[{{"Config":"blobs/sha256/{zero}","RepoTags":["evil:1"],"Layers":[]}}]"#
                ),
            )]),
        ),
        ("not-an-archive", raw_tar(&[file("readme", "hello")])),
        (
            "layer-dotdot",
            archive_with_layer(raw_tar(&[file(&format!("../../../{escape}"), "x")])),
        ),
        (
            "layer-symlink-escape",
            archive_with_layer(raw_tar(&[
                ("up".into(), b'2', "../../../../../../../tmp".into(), vec![]),
                file(&format!("up/{escape}"), "x"),
            ])),
        ),
        (
            "layer-hardlink-escape",
            archive_with_layer(raw_tar(&[(
                "passwd".into(),
                b'1',
                "../../../../etc/passwd".into(),
                vec![],
            )])),
        ),
    ];
    for (name, bytes) in cases {
        let tar = env.path(&format!("{name}.tar"));
        fs::write(&tar, bytes).unwrap();
        let output = env.run(&["load", "-i", tar.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} must be rejected");
        assert!(stderr.contains("invalid image archive"), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}.tar")),
            "{name}: names the file: {stderr}"
        );
        for sub in ["blobs/sha256", "snapshots", "tmp"] {
            assert_eq!(
                count(&env.root().join(sub)),
                0,
                "{name} left something in {sub}"
            );
        }
        assert_eq!(env.ok(&["images", "-q"]), "", "{name} left an image");
        assert!(!Path::new("/tmp").join(&escape).exists(), "{name} escaped");
        assert!(!env.dir.path().join(&escape).exists(), "{name} escaped");
    }
    // Truncated: a real archive cut in half.
    let Some(source) = env_with_busybox() else {
        return;
    };
    let full = source.path("full.tar");
    source.ok(&["save", "-o", full.to_str().unwrap(), "bb:1"]);
    let bytes = fs::read(&full).unwrap();
    let cut = env.path("cut.tar");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let output = env.run(&["load", "-i", cut.to_str().unwrap()]);
    assert!(!output.status.success());
    for sub in ["blobs/sha256", "snapshots", "tmp"] {
        assert_eq!(
            count(&env.root().join(sub)),
            0,
            "truncated load left something in {sub}"
        );
    }
}

/// Names and sizes of what the store keeps (blobs, snapshots and the files in them), sorted.
fn stored(root: &Path) -> String {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("find blobs snapshots -printf '%p %y %s\\n' | sort")
        .current_dir(root)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// Issue 14: loading a tarball whose layers the store has skips unpacking them, but the
/// archive's bytes are still checked: other bytes under the layer's name, or a new layer the
/// config passes off as the known one, are refused, and nothing new is stored either way.
#[test]
fn a_repeat_load_stores_nothing_new_and_still_refuses_a_tampered_layer() {
    let env = TestEnv::new();
    let good = raw_tar(&[file("etc/motd", "good")]);
    let evil = raw_tar(&[file("etc/motd", "evil")]);
    let (good_hex, evil_hex) = (hex(&good), hex(&evil));
    let load = |name: &str, bytes: Vec<u8>| {
        let tar = env.path(&format!("{name}.tar"));
        fs::write(&tar, bytes).unwrap();
        env.run(&["load", "-i", tar.to_str().unwrap()])
    };
    assert!(load("first", archive_with_layer(good.clone()))
        .status
        .success());
    let before = stored(&env.root());
    let images = env.ok(&["images"]);
    let again = load("again", archive_with_layer(good.clone()));
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "Loaded image: evil:1\n"
    );
    assert_eq!(
        stored(&env.root()),
        before,
        "a repeat load stores nothing new"
    );

    // Other bytes (as long) under the known layer's name, the config unchanged.
    let mut swapped = archive_with_layer(good.clone());
    let at = swapped
        .windows(good.len())
        .position(|w| w == good.as_slice())
        .unwrap();
    swapped[at..at + evil.len()].copy_from_slice(&evil);
    // A new layer named by its own digest, which the config says is the known one.
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{good_hex}")]},
    })
    .to_string();
    let config_hex = hex(config.as_bytes());
    let claimed = raw_tar(&[
        file(&format!("blobs/sha256/{evil_hex}"), evil.clone()),
        file(&format!("blobs/sha256/{config_hex}"), config),
        file(
            "manifest.json",
            format!(
                r#"[{{"Config":"blobs/sha256/{config_hex}","RepoTags":["evil:1"],"Layers":["blobs/sha256/{evil_hex}"]}}]"#
            ),
        ),
    ]);
    for (name, bytes, reason) in [
        ("swapped", swapped, "does not match its digest".to_string()),
        (
            "claimed",
            claimed,
            format!("has DiffID sha256:{evil_hex} but the config says sha256:{good_hex}"),
        ),
    ] {
        let output = load(name, bytes);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} must be refused");
        assert!(stderr.contains(&reason), "{name}: {stderr}");
        assert_eq!(stored(&env.root()), before, "{name} stored nothing");
        assert_eq!(env.ok(&["images"]), images);
    }
}
