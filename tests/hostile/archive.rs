//! Hostile archive inputs.

use std::fs;

#[allow(unused_imports)]
use crate::util::*;

/// A tar of special files: a character device, a block device and a FIFO, with their owners
/// and modes, beside a regular file.
fn special_files_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, owner: u64, dev: (u32, u32)| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(0);
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_mtime(1_700_000_000);
        header.set_device_major(dev.0).unwrap();
        header.set_device_minor(dev.1).unwrap();
        header.set_cksum();
        builder.append_data(&mut header, name, &[][..]).unwrap();
    };
    add("dev/null", tar::EntryType::Char, 0o666, 0, (1, 3));
    add("dev/loop9", tar::EntryType::Block, 0o660, 6, (7, 9));
    add("run/pipe", tar::EntryType::Fifo, 0o620, 1000, (0, 0));
    add("plain.txt", tar::EntryType::Regular, 0o644, 0, (0, 0));
    builder.into_inner().unwrap()
}

/// One entry of an exported image: path, kind, mode, uid, device (major, minor).
type Exported = (String, tar::EntryType, u32, u64, (u32, u32));

/// Every entry of an exported image.
fn exported(env: &TestEnv, image: &str) -> Vec<Exported> {
    let out = env.path("exported.tar");
    env.ok(&["export", image, "-o", out.to_str().unwrap()]);
    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let header = entry.header();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            (
                format!("/{}", path.trim_start_matches("./").trim_end_matches('/')),
                header.entry_type(),
                header.mode().unwrap() & 0o7777,
                header.uid().unwrap(),
                match header.entry_type() {
                    tar::EntryType::Char | tar::EntryType::Block => (
                        header.device_major().unwrap().unwrap_or(0),
                        header.device_minor().unwrap().unwrap_or(0),
                    ),
                    _ => (0, 0),
                },
            )
        })
        .collect()
}

/// ADD of a local archive holding device nodes and a FIFO used to write them as empty regular
/// files. docker (20.10, whose untar mknods them) puts them in the layer as what they are: a
/// layer may hold device nodes; opening them during the build is the sandbox's business.
#[test]
fn add_of_an_archive_makes_its_device_nodes_and_fifos() {
    if skip_unless(is_root(), "making device nodes needs root") {
        return;
    }
    let env = TestEnv::new();
    let dir = env.write_files(
        "ctx",
        &[(
            "Dockerfile",
            "FROM scratch\nADD nodes.tar /n/\nADD --chown=1000:1000 nodes.tar /owned/\n",
        )],
    );
    fs::write(dir.join("nodes.tar"), special_files_tar()).unwrap();
    env.ok(&["build", "-q", "-t", "nodes:1", dir.to_str().unwrap()]);
    let entries = exported(&env, "nodes:1");
    let find = |path: &str| {
        entries
            .iter()
            .find(|e| e.0 == path)
            .unwrap_or_else(|| panic!("`{path}` missing from {entries:?}"))
            .clone()
    };
    let char_dev = find("/n/dev/null");
    assert_eq!(
        (char_dev.1, char_dev.2, char_dev.3, char_dev.4),
        (tar::EntryType::Char, 0o666, 0, (1, 3))
    );
    let block_dev = find("/n/dev/loop9");
    assert_eq!(
        (block_dev.1, block_dev.2, block_dev.3, block_dev.4),
        (tar::EntryType::Block, 0o660, 6, (7, 9))
    );
    let fifo = find("/n/run/pipe");
    assert_eq!(
        (fifo.1, fifo.2, fifo.3),
        (tar::EntryType::Fifo, 0o620, 1000)
    );
    assert_eq!(find("/n/plain.txt").1, tar::EntryType::Regular);
    // `--chown` owns the nodes too.
    let owned = find("/owned/dev/loop9");
    assert_eq!((owned.1, owned.3), (tar::EntryType::Block, 1000));
}

/// A 1 MB Dockerfile line used to come back twice in the error (the line and as many carets
/// under it): 2 MB of stderr. The snippet is cut around the caret.
#[test]
fn a_megabyte_dockerfile_line_gives_a_short_error() {
    let env = TestEnv::new();
    let line = format!("RUN echo {}", "x".repeat(1 << 20));
    let dir = env.write_files("ctx", &[("Dockerfile", &format!("FROM scratch\n{line}\n"))]);
    let output = env.run(&["build", dir.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.len() < 2048,
        "{} bytes of stderr: {}",
        stderr.len(),
        &stderr[..stderr.len().min(400)]
    );
    assert!(stderr.contains("Dockerfile:2"), "{stderr}");
    assert!(
        stderr.contains(" 2 | RUN echo xxx") && stderr.contains("x..."),
        "{stderr}"
    );
}
