use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};

use super::compress::compress_level;
use super::*;
use crate::error::Error;
use crate::rootfs::{is_opaque, is_whiteout, OPAQUE_XATTR};

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
    if !crate::running_as_root() {
        crate::skip_test("whiteouts need root (mknod, trusted xattrs)");
        return;
    }
    let upper = tempfile::tempdir().unwrap();
    let deleted = upper.path().join("deleted");
    mknodat(CWD, &deleted, FileType::CharacterDevice, Mode::empty(), 0).unwrap();
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

#[test]
fn compression_is_deterministic_per_level_and_decompresses() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for compression in [Compression::Gzip, Compression::Zstd] {
        for level in [None, Some(1), Some(9)] {
            let mut one = Vec::new();
            let mut two = Vec::new();
            let n = compress_level(compression, level, &mut &data[..], &mut one).unwrap();
            compress_level(compression, level, &mut &data[..], &mut two).unwrap();
            assert_eq!(n, data.len() as u64);
            assert_eq!(one, two, "{} {level:?}", compression.name());
            assert!(one.len() < data.len());
            let mut back = Vec::new();
            match compression {
                Compression::Gzip => std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&one[..]),
                    &mut back,
                ),
                Compression::Zstd => std::io::Read::read_to_end(
                    &mut zstd::stream::read::Decoder::new(&one[..]).unwrap(),
                    &mut back,
                ),
            }
            .unwrap();
            assert_eq!(back, data);
        }
        let mut default = Vec::new();
        compress(compression, &mut &data[..], &mut default).unwrap();
        let mut explicit = Vec::new();
        compress_level(compression, None, &mut &data[..], &mut explicit).unwrap();
        assert_eq!(default, explicit);
    }
}

#[test]
fn names_and_link_targets_that_are_not_utf8_survive_byte_for_byte() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let src = tempfile::tempdir().unwrap();
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    fs::write(src.path().join(latin1), "x").unwrap();
    symlink(OsStr::from_bytes(b"target-\xff"), src.path().join("link")).unwrap();
    let long = OsStr::from_bytes(&[b'\xe9'; 150]);
    fs::create_dir(src.path().join(long)).unwrap();
    let (bytes, summary) = layer_bytes(src.path(), &LayerOptions::default());
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(
        extract_layer(&bytes[..], dest.path()).unwrap().diff_id,
        summary.diff_id
    );
    assert_eq!(fs::read(dest.path().join(latin1)).unwrap(), b"x");
    assert_eq!(
        fs::read_link(dest.path().join("link"))
            .unwrap()
            .as_os_str()
            .as_bytes(),
        b"target-\xff"
    );
    assert!(dest.path().join(long).is_dir());
    let (again, _) = layer_bytes(dest.path(), &LayerOptions::default());
    assert_eq!(again, bytes);
}

#[test]
fn sparse_files_are_archived_at_their_apparent_size() {
    let src = tempfile::tempdir().unwrap();
    let file = fs::File::create(src.path().join("sparse")).unwrap();
    file.set_len(8 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    file.write_at(b"end", (8 << 20) - 3).unwrap();
    drop(file);
    let (bytes, _) = layer_bytes(src.path(), &LayerOptions::default());
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.header().size().unwrap(), 8 << 20);
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
    assert_eq!(content.len(), 8 << 20);
    assert!(content[..(8 << 20) - 3].iter().all(|&b| b == 0));
    assert_eq!(&content[(8 << 20) - 3..], b"end");
}

#[test]
fn headers_have_fixed_fields_and_no_owner_names() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), "x").unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    let (bytes, _) = layer_bytes(dir.path(), &LayerOptions::default());
    for entry in tar::Archive::new(&bytes[..]).entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        let raw = header.as_bytes();
        assert_eq!(
            &raw[257..265],
            b"ustar\x0000",
            "POSIX ustar magic and version"
        );
        assert_eq!(header.username_bytes(), Some(&b""[..]));
        assert_eq!(header.groupname_bytes(), Some(&b""[..]));
        assert_eq!(&raw[345..500], &[0u8; 155][..], "no prefix field");
    }
    assert_eq!(bytes.len() % 512, 0);
    assert_eq!(&bytes[bytes.len() - 1024..], &[0u8; 1024][..]);
}

#[test]
fn ownership_devices_fifos_and_big_ids_round_trip() {
    if !crate::running_as_root() {
        crate::skip_test("ownership and device nodes need root");
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let path = |name: &str| src.path().join(name);
    fs::write(src.path().join("owned"), "o").unwrap();
    std::os::unix::fs::lchown(src.path().join("owned"), Some(1000), Some(50)).unwrap();
    fs::write(src.path().join("huge-id"), "h").unwrap();
    std::os::unix::fs::lchown(src.path().join("huge-id"), Some(3_000_000), Some(4_000_000))
        .unwrap();
    let all = Mode::from_raw_mode(0o666);
    mknodat(
        CWD,
        path("null"),
        FileType::CharacterDevice,
        all,
        makedev(1, 3),
    )
    .unwrap();
    let owner = Mode::from_raw_mode(0o600);
    mknodat(CWD, path("fifo"), FileType::Fifo, owner, 0).unwrap();
    fs::set_permissions(src.path().join("null"), fs::Permissions::from_mode(0o666)).unwrap();
    let (bytes, summary) = layer_bytes(src.path(), &LayerOptions::default());
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(
        extract_layer(&bytes[..], dest.path()).unwrap().diff_id,
        summary.diff_id
    );
    let meta = |name: &str| fs::symlink_metadata(dest.path().join(name)).unwrap();
    assert_eq!((meta("owned").uid(), meta("owned").gid()), (1000, 50));
    assert_eq!(
        (meta("huge-id").uid(), meta("huge-id").gid()),
        (3_000_000, 4_000_000)
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(meta("null").file_type().is_char_device());
    assert_eq!(meta("null").rdev(), makedev(1, 3));
    assert_eq!(meta("null").mode() & 0o7777, 0o666);
    assert!(meta("fifo").file_type().is_fifo());
    let (again, _) = layer_bytes(dest.path(), &LayerOptions::default());
    assert_eq!(again, bytes);
}

/// `dir/d/d/…/f`: `depth` path components below `dir`, the last a file.
fn deep_tree(dir: &Path, depth: usize) -> std::path::PathBuf {
    let parent = (1..depth).fold(dir.to_path_buf(), |path, _| path.join("d"));
    fs::create_dir_all(&parent).unwrap();
    fs::write(parent.join("f"), "bottom").unwrap();
    parent.join("f")
}

#[test]
fn deep_trees_are_written_without_recursion_and_refused_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bottom = deep_tree(dir.path(), MAX_DEPTH);
    // A small stack, as rayon's threads have: a recursive writer overflowed here.
    let root = dir.path().to_path_buf();
    let written = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || layer_bytes(&root, &LayerOptions::default()).0)
        .unwrap()
        .join()
        .unwrap();
    let entries = names(&written);
    assert_eq!(entries.len(), MAX_DEPTH);
    assert!(entries.last().unwrap().ends_with("d/f"));

    fs::remove_file(&bottom).unwrap();
    fs::create_dir(&bottom).unwrap();
    fs::write(bottom.join("g"), "one too deep").unwrap();
    let err = write_layer(dir.path(), &LayerOptions::default(), &mut std::io::sink()).unwrap_err();
    assert!(
        matches!(err, Error::TooDeep { max: MAX_DEPTH, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.starts_with("`/d/d/d/"), "{message}");
    assert!(
        message
            .ends_with("d/f/g`: more than 512 directory levels deep; strata refuses deeper trees"),
        "{message}"
    );
}

mod hostile;
