//! The store under stress: real processes contending for the lock, processes killed with
//! SIGKILL in the middle of writes, and a disk that fills up.
//!
//! Child processes are this test binary itself, re-run with `STRATA_CACHE_CHILD` set: the
//! child branch at the top of each test does the child's part and exits.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_cache::{Digest, OpenOptions, StepRecord, Store};

const CHILD: &str = "STRATA_CACHE_CHILD";

fn child_role() -> Option<(String, PathBuf)> {
    let role = std::env::var(CHILD).ok()?;
    let root = std::env::var("STRATA_CACHE_ROOT").ok()?;
    Some((role, PathBuf::from(root)))
}

fn spawn_child(test: &str, role: &str, root: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env("STRATA_CACHE_ROOT", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until a line containing `marker` (the harness prints its own
/// lines first).
fn wait_for(child: &mut std::process::Child, marker: &str) {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(marker) => break,
            Some(Ok(_)) => {}
            _ => panic!("child ended before printing {marker:?}"),
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
}

fn open(root: &Path, timeout: Duration) -> strata_cache::Result<Store> {
    Store::open(
        root,
        &OpenOptions {
            lock_timeout: timeout,
            on_wait: &|_| eprintln!("WAITING"),
        },
    )
}

#[test]
fn processes_take_turns_on_one_root_and_none_fails() {
    if let Some((role, root)) = child_role() {
        // Each child increments a counter in the index while holding the store.
        let store = open(&root, Duration::from_secs(60)).unwrap();
        let key = Digest::from_bytes([1; 32]);
        let current = store.index().step(&key).unwrap().map_or(0, |r| r.created);
        std::thread::sleep(Duration::from_millis(150));
        store
            .index()
            .put_step(
                &key,
                &StepRecord {
                    diff_id: None,
                    created: current + 1,
                    last_used: 0,
                },
            )
            .unwrap();
        store.index().flush().unwrap();
        println!("child {role} done");
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|i| {
            spawn_child(
                "processes_take_turns_on_one_root_and_none_fails",
                &i.to_string(),
                dir.path(),
            )
        })
        .collect();
    let mut waited = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        waited += stderr.matches("WAITING").count();
        assert!(
            stderr.matches("WAITING").count() <= 1,
            "told once at most: {stderr}"
        );
    }
    assert!(
        waited >= 1,
        "with four children at once, someone must have waited"
    );
    let store = open(dir.path(), Duration::from_secs(5)).unwrap();
    let record = store
        .index()
        .step(&Digest::from_bytes([1; 32]))
        .unwrap()
        .unwrap();
    assert_eq!(
        record.created, 4,
        "every increment happened under the lock: none lost"
    );
}

#[test]
fn a_held_root_times_out_with_a_clear_error() {
    if let Some((_, root)) = child_role() {
        let _store = open(&root, Duration::from_secs(5)).unwrap();
        println!("holding");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(30));
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut holder = spawn_child(
        "a_held_root_times_out_with_a_clear_error",
        "hold",
        dir.path(),
    );
    wait_for(&mut holder, "holding");
    let started = Instant::now();
    let err = open(dir.path(), Duration::from_millis(300))
        .err()
        .expect("must time out");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(err.to_string().contains("waiting for the lock"), "{err}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The kernel released the dead holder's lock: the root opens at once.
    open(dir.path(), Duration::from_secs(2)).unwrap();
}

#[test]
fn sigkill_mid_write_leaves_a_store_that_opens_and_answers_correctly() {
    if let Some((_, root)) = child_role() {
        let store = open(&root, Duration::from_secs(10)).unwrap();
        let mut n: u64 = 0;
        loop {
            // Blobs of a few MiB, and index records pointing at them.
            let bytes: Vec<u8> = (0..(3 << 20)).map(|i| (i as u64 ^ n) as u8).collect();
            let mut writer = store.blobs().writer().unwrap();
            writer.write_all(&bytes).unwrap();
            let (digest, _) = writer.commit(None).unwrap();
            store
                .index()
                .put_step(
                    &Digest::from_bytes([n as u8; 32]),
                    &StepRecord {
                        diff_id: Some(digest),
                        created: n as i64,
                        last_used: 0,
                    },
                )
                .unwrap();
            if n == 0 {
                println!("started");
                std::io::stdout().flush().unwrap();
            }
            n += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..6u64 {
        let mut child = spawn_child(
            "sigkill_mid_write_leaves_a_store_that_opens_and_answers_correctly",
            "writer",
            dir.path(),
        );
        wait_for(&mut child, "started");
        // Kill at varied moments into the write loop.
        std::thread::sleep(Duration::from_millis(20 + round * 37));
        child.kill().unwrap();
        child.wait().unwrap();
        let store = open(dir.path(), Duration::from_secs(5)).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "leftover temp files are cleaned on open"
        );
        for (digest, _) in store.blobs().list().unwrap() {
            store
                .blobs()
                .verify(&digest)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        for (_, record) in store.index().steps().unwrap() {
            // sled may lose the newest records, never corrupt one; the blob written before a
            // record is always complete.
            let digest = record.diff_id.unwrap();
            assert!(
                store.blobs().exists(&digest),
                "round {round}: record points at a missing blob"
            );
        }
    }
}

#[test]
fn disk_full_gives_a_clear_error_and_stores_nothing() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount)
        .status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        eprintln!("skipping: could not mount a tmpfs");
        return;
    }
    let result = std::panic::catch_unwind(|| {
        let store = open(&mount, Duration::from_secs(1)).unwrap();
        let small = store.blobs().put(b"fits").unwrap();
        let mut writer = store.blobs().writer().unwrap();
        let chunk = vec![7u8; 1 << 20];
        let mut error = None;
        for _ in 0..8 {
            if let Err(e) = writer.write_all(&chunk) {
                error = Some(e);
                break;
            }
        }
        let error = error.expect("8 MiB cannot fit in 2 MiB");
        assert_eq!(error.raw_os_error(), Some(28), "ENOSPC");
        drop(writer);
        let blobs = store.blobs().list().unwrap();
        assert_eq!(blobs.len(), 1, "only the blob that fit: {blobs:?}");
        assert_eq!(blobs[0].0, small);
        assert_eq!(
            std::fs::read_dir(mount.join("tmp")).unwrap().count(),
            0,
            "no half-written temp file"
        );
        let err = strata_cache::Error::io(mount.join("x"), error);
        assert!(err.to_string().contains("no space left on device"), "{err}");
    });
    let _ = Command::new("umount").arg(&mount).status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
