use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;
use crate::rootfs::{is_opaque, is_whiteout, OPAQUE_XATTR};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn tree(dir: &Path) {
    fs::create_dir_all(dir.join("etc/app")).unwrap();
    fs::write(dir.join("etc/app/conf"), "a=1\n").unwrap();
    fs::write(dir.join("big"), vec![7u8; 100_000]).unwrap();
    fs::set_permissions(dir.join("big"), fs::Permissions::from_mode(0o4755)).unwrap();
    symlink("etc/app/conf", dir.join("link")).unwrap();
    fs::hard_link(dir.join("big"), dir.join("big-again")).unwrap();
    let long = "d".repeat(120);
    fs::create_dir_all(dir.join(&long)).unwrap();
    fs::write(dir.join(&long).join("f"), "deep").unwrap();
}

fn layer_bytes(dir: &Path, options: &LayerOptions) -> (Vec<u8>, LayerSummary) {
    let mut bytes = Vec::new();
    let summary = write_layer(dir, options, &mut bytes).unwrap();
    (bytes, summary)
}

fn names(bytes: &[u8]) -> Vec<String> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn the_same_tree_gives_the_same_bytes_and_the_diffid_is_their_sha256() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    tree(a.path());
    tree(b.path());
    let (bytes_a, summary_a) = layer_bytes(a.path(), &LayerOptions::default());
    let (bytes_b, summary_b) = layer_bytes(
        b.path(),
        &LayerOptions {
            source_date_epoch: None,
        },
    );
    // Different creation times, so clamp both to compare bytes.
    let epoch = LayerOptions {
        source_date_epoch: Some(1_000_000),
    };
    let (clamped_a, _) = layer_bytes(a.path(), &epoch);
    let (clamped_b, _) = layer_bytes(b.path(), &epoch);
    assert_eq!(clamped_a, clamped_b);
    assert_eq!(summary_a.diff_id, strata_cache::Digest::of(&bytes_a));
    assert_eq!(summary_a.size, bytes_a.len() as u64);
    assert_eq!(summary_b.diff_id, strata_cache::Digest::of(&bytes_b));
    let listed = names(&bytes_a);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "entries are sorted");
    assert!(
        listed.iter().any(|n| n.len() > 100),
        "long names go through PAX"
    );
}

#[test]
fn write_then_extract_round_trips_files_links_modes_and_mtimes() {
    let src = tempfile::tempdir().unwrap();
    tree(src.path());
    let (bytes, summary) = layer_bytes(src.path(), &LayerOptions::default());
    let dest = tempfile::tempdir().unwrap();
    let report = extract_layer(&bytes[..], dest.path()).unwrap();
    assert_eq!(report.diff_id, summary.diff_id);
    assert_eq!(
        fs::read_to_string(dest.path().join("etc/app/conf")).unwrap(),
        "a=1\n"
    );
    assert_eq!(
        fs::read_link(dest.path().join("link")).unwrap().to_str(),
        Some("etc/app/conf")
    );
    let big = fs::metadata(dest.path().join("big")).unwrap();
    assert_eq!(big.mode() & 0o7777, 0o4755);
    assert_eq!(
        big.ino(),
        fs::metadata(dest.path().join("big-again")).unwrap().ino(),
        "hard link kept"
    );
    assert_eq!(
        big.mtime(),
        fs::metadata(src.path().join("big")).unwrap().mtime()
    );
    let (again, _) = layer_bytes(dest.path(), &LayerOptions::default());
    assert_eq!(
        again, bytes,
        "extracting and re-archiving gives the same layer"
    );
}

#[test]
fn source_date_epoch_clamps_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), "x").unwrap();
    let (bytes, _) = layer_bytes(
        dir.path(),
        &LayerOptions {
            source_date_epoch: Some(86400),
        },
    );
    let mut archive = tar::Archive::new(&bytes[..]);
    let entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.header().mtime().unwrap(), 86400);
    assert_eq!(entry.header().username_bytes(), Some(&b""[..]));
}

#[test]
fn overlay_whiteouts_become_oci_whiteouts_and_back() {
    if !is_root() {
        eprintln!("skipping: whiteouts need root (mknod, trusted xattrs)");
        return;
    }
    let upper = tempfile::tempdir().unwrap();
    let c = std::ffi::CString::new(upper.path().join("deleted").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0);
    fs::create_dir(upper.path().join("recreated")).unwrap();
    fs::write(upper.path().join("recreated/new"), "n").unwrap();
    xattr::set(&upper.path().join("recreated"), OPAQUE_XATTR, b"y").unwrap();
    xattr::set(&upper.path().join("recreated/new"), "user.note", b"kept").unwrap();
    let (bytes, _) = layer_bytes(upper.path(), &LayerOptions::default());
    assert_eq!(
        names(&bytes),
        [
            ".wh.deleted",
            "recreated/",
            "recreated/.wh..wh..opq",
            "recreated/new"
        ]
    );
    let dest = tempfile::tempdir().unwrap();
    extract_layer(&bytes[..], dest.path()).unwrap();
    assert!(is_whiteout(
        &fs::symlink_metadata(dest.path().join("deleted")).unwrap()
    ));
    assert!(is_opaque(&dest.path().join("recreated")));
    assert_eq!(
        xattr::get(&dest.path().join("recreated/new"), "user.note")
            .unwrap()
            .as_deref(),
        Some(&b"kept"[..])
    );
}

/// A tar with one raw entry (name bytes written directly, as a hostile tool would).
fn raw_tar(entries: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_mode(0o644);
        header.set_size(0);
        header.set_entry_type(tar::EntryType::new(*kind));
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn hostile_layers_are_refused_and_write_nothing_outside() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", raw_tar(&[(b"../escape", b'0', b"")])),
        ("absolute", raw_tar(&[(b"/etc/escape", b'0', b"")])),
        (
            "under-symlink",
            raw_tar(&[(b"link", b'2', b".."), (b"link/escape", b'0', b"")]),
        ),
        (
            "hardlink-out",
            raw_tar(&[(b"h", b'1', b"../../etc/passwd")]),
        ),
        ("hardlink-missing", raw_tar(&[(b"h", b'1', b"nothing")])),
    ];
    for (name, bytes) in cases {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let err = extract_layer(&bytes[..], &dest).expect_err(name);
        assert!(
            err.to_string().starts_with("invalid layer"),
            "{name}: {err}"
        );
        assert!(!outer.path().join("escape").exists(), "{name}");
    }
}

#[test]
fn compression_is_deterministic() {
    for compression in [Compression::Gzip, Compression::Zstd] {
        let data = vec![42u8; 50_000];
        let mut one = Vec::new();
        let mut two = Vec::new();
        compress(compression, &mut &data[..], &mut one).unwrap();
        compress(compression, &mut &data[..], &mut two).unwrap();
        assert_eq!(one, two, "{}", compression.name());
        assert!(one.len() < data.len());
    }
}
