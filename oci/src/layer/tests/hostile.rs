//! Layers from elsewhere: hostile entries, foreign tar dialects, names and depths that must
//! be refused, and what extraction must never write.

use std::fs;

use super::*;

/// A tar with one raw entry (name bytes written directly, as a hostile tool would).
fn raw_tar(entries: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
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
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            raw_tar(&[(b"../escape", b'0', b"")]),
            "climbs out with `..`",
        ),
        (
            "dotdot-inside",
            raw_tar(&[(b"a/../../escape", b'0', b"")]),
            "climbs out with `..`",
        ),
        (
            "absolute",
            raw_tar(&[(b"/etc/escape", b'0', b"")]),
            "has an absolute path",
        ),
        (
            "under-symlink",
            raw_tar(&[(b"link", b'2', b".."), (b"link/escape", b'0', b"")]),
            "is placed under the symlink `link`",
        ),
        (
            "under-absolute-symlink",
            raw_tar(&[(b"link", b'2', b"/"), (b"link/escape", b'5', b"")]),
            "is placed under the symlink `link`",
        ),
        (
            "hardlink-out",
            raw_tar(&[(b"h", b'1', b"../../etc/passwd")]),
            "points outside the layer",
        ),
        (
            "hardlink-absolute",
            raw_tar(&[(b"h", b'1', b"/etc/passwd")]),
            "points outside the layer",
        ),
        (
            "hardlink-through-symlink",
            raw_tar(&[(b"link", b'2', b"/etc"), (b"h", b'1', b"link/passwd")]),
            "is placed under the symlink `link`",
        ),
        (
            "hardlink-missing",
            raw_tar(&[(b"h", b'1', b"nothing")]),
            "which the layer does not have",
        ),
        (
            "hardlink-to-dir",
            raw_tar(&[(b"d/", b'5', b""), (b"h", b'1', b"d")]),
            "points at a directory",
        ),
        (
            "unknown-type",
            raw_tar(&[(b"s", b'Z', b"")]),
            "unsupported type",
        ),
    ];
    for (name, bytes, reason) in cases {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let err = extract_layer(&bytes[..], &dest).expect_err(name);
        let text = err.to_string();
        assert!(
            text.starts_with("invalid layer") && text.contains(reason),
            "{name}: {text}"
        );
        assert!(!outer.path().join("escape").exists(), "{name}");
    }
}

/// A tar built with the tar crate's own header helpers (GNU/ustar as a foreign tool writes).
fn foreign_tar(build: impl FnOnce(&mut tar::Builder<&mut Vec<u8>>)) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut out);
        build(&mut builder);
        builder.finish().unwrap();
    }
    out
}

fn file_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header
}

#[test]
fn whiteouts_of_dot_and_dotdot_are_refused_and_delete_nothing() {
    for name in [".wh..", ".wh...", "sub/.wh..."] {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::write(outer.path().join("precious"), "keep").unwrap();
        let bytes = raw_tar(&[(b"sub/", b'5', b""), (name.as_bytes(), b'0', b"")]);
        let err = extract_layer(&bytes[..], &dest).expect_err(name);
        assert!(err.to_string().contains("names no file"), "{name}: {err}");
        assert!(outer.path().join("precious").exists(), "{name}");
        assert!(dest.exists(), "{name}");
    }
}

#[test]
fn extraction_implies_missing_parents_and_never_writes_through_a_symlink() {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let outside = outer.path().join("outside");
    let bytes = foreign_tar(|b| {
        let mut h = file_header(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, "link", &outside).unwrap();
        // The same name again, now a file: the link is replaced, its target never written.
        b.append_data(&mut file_header(5), "link", &b"inner"[..])
            .unwrap();
        b.append_data(&mut file_header(4), "a/b/c/deep", &b"deep"[..])
            .unwrap();
    });
    extract_layer(&bytes[..], &dest).unwrap();
    assert!(!outside.exists());
    assert_eq!(fs::read_to_string(dest.join("link")).unwrap(), "inner");
    assert_eq!(fs::read_to_string(dest.join("a/b/c/deep")).unwrap(), "deep");
}

#[test]
fn overlay_xattrs_in_a_tar_are_dropped() {
    if !crate::running_as_root() {
        crate::skip_test("trusted xattrs need root");
        return;
    }
    use super::tar_format::{finish, write_header, Entry, EntryType};
    let mut bytes = Vec::new();
    let entry = Entry {
        path: "dir/".into(),
        kind: EntryType::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 0,
        link: String::new(),
        dev: (0, 0),
        xattrs: vec![
            ("trusted.overlay.opaque".into(), b"y".to_vec()),
            ("trusted.overlay.redirect".into(), b"/elsewhere".to_vec()),
            ("user.kept".into(), b"1".to_vec()),
        ],
    };
    write_header(&mut bytes, &entry).unwrap();
    finish(&mut bytes).unwrap();
    let dest = tempfile::tempdir().unwrap();
    extract_layer(&bytes[..], dest.path()).unwrap();
    let dir = dest.path().join("dir");
    assert!(
        !is_opaque(&dir),
        "only `.wh..wh..opq` makes a directory opaque"
    );
    assert_eq!(xattr::get(&dir, "trusted.overlay.redirect").unwrap(), None);
    assert_eq!(
        xattr::get(&dir, "user.kept").unwrap().as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn empty_numeric_fields_read_as_zero_and_garbage_is_named() {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..4].copy_from_slice(b"file");
    header.set_size(0);
    header.set_entry_type(tar::EntryType::Regular);
    // mode, uid, gid, mtime left as NULs, as some tools write them.
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 1024]);
    let dest = tempfile::tempdir().unwrap();
    extract_layer(&bytes[..], dest.path()).unwrap();
    assert!(dest.path().join("file").is_file());

    header.as_old_mut().uid.copy_from_slice(b"12x4567\0");
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 1024]);
    let dest = tempfile::tempdir().unwrap();
    let err = extract_layer(&bytes[..], dest.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("entry `file`: bad uid"), "{err}");
}

#[test]
fn files_named_like_whiteouts_are_refused_not_written_as_whiteouts() {
    // In a layer `.wh.NAME` deletes NAME: written as it is, the file would vanish on unpack
    // (and take `sub/a` with it). containerd refuses such names too.
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/a"), "a").unwrap();
    fs::write(dir.path().join("sub/.wh.a"), "not a whiteout").unwrap();
    let err = write_layer(dir.path(), &LayerOptions::default(), &mut std::io::sink()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`/sub/.wh.a`: file names starting with `.wh.` are reserved for whiteouts in image \
         layers (unpacked, it would delete `/sub/a` instead); rename it"
    );
    // The opaque marker is refused the same way when it is a real file.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".wh..wh..opq"), "").unwrap();
    let err = write_layer(dir.path(), &LayerOptions::default(), &mut std::io::sink()).unwrap_err();
    assert!(matches!(err, Error::WhiteoutName { .. }), "{err}");
}

#[test]
fn a_tar_entry_deeper_than_the_limit_is_refused() {
    let deep = |depth: usize| {
        let path = vec!["d"; depth].join("/");
        foreign_tar(|b| {
            b.append_data(&mut file_header(1), &path, &b"x"[..])
                .unwrap();
        })
    };
    let dest = tempfile::tempdir().unwrap();
    extract_layer(&deep(MAX_DEPTH)[..], dest.path()).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = extract_layer(&deep(MAX_DEPTH + 1)[..], dest.path()).unwrap_err();
    assert!(
        matches!(err, Error::TooDeep { max: MAX_DEPTH, .. }),
        "{err}"
    );
    assert!(
        fs::read_dir(dest.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
