//! A full disk (ENOSPC) gives a clear error, stores nothing half-written, and the store works
//! again once space is freed. The store lives on a small tmpfs mounted for the test.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use strata_cache::{Digest, Error, StepRecord, Store};

use crate::helpers::{is_root, open, skip, skip_unless, tmp_entries};

const ENOSPC: i32 = rustix::io::Errno::NOSPC.raw_os_error();

/// Runs `test` on a fresh tmpfs of `size` (e.g. `2m`), unmounting it afterwards whatever
/// happens. Returns without running it (and says why) when a tmpfs cannot be mounted.
fn on_small_tmpfs(size: &str, test: impl FnOnce(&Path) + std::panic::UnwindSafe) {
    if skip_unless(is_root(), "mounting a small tmpfs needs root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&mount)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        skip("could not mount a tmpfs (mount -t tmpfs failed)");
        return;
    }
    let result = std::panic::catch_unwind(|| test(&mount));
    let _ = Command::new("umount").arg(&mount).status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn assert_enospc(err: &Error) {
    match err {
        Error::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(ENOSPC), "{err}"),
        other => panic!("expected ENOSPC, got {other}"),
    }
    assert!(err.to_string().contains("no space left on device"), "{err}");
}

fn free_bytes(path: &Path) -> u64 {
    let stat = rustix::fs::statvfs(path).unwrap();
    stat.f_bavail * stat.f_frsize
}

#[test]
fn disk_full_gives_a_clear_error_and_stores_nothing() {
    on_small_tmpfs("2m", |root| {
        let store = open(root, Duration::from_secs(1)).unwrap();
        let small = store.blobs().put(b"fits").unwrap();

        // Bigger than the disk, in one piece.
        let err = store.blobs().put(&vec![7u8; 3 << 20]).unwrap_err();
        assert_enospc(&err);
        assert_eq!(store.blobs().list().unwrap().len(), 1);
        assert_eq!(tmp_entries(root), 0, "no half-written temp file");

        // Streamed in chunks: the failing write reports ENOSPC, and so does a commit after it.
        let mut writer = store.blobs().writer().unwrap();
        let chunk = vec![8u8; 300 << 10];
        let error = (0..16)
            .find_map(|_| writer.write_all(&chunk).err())
            .expect("4.8 MiB cannot fit in 2 MiB");
        assert_eq!(error.raw_os_error(), Some(ENOSPC));
        assert_enospc(&writer.commit(None).unwrap_err());
        assert_eq!(tmp_entries(root), 0);
        assert_eq!(store.blobs().list().unwrap(), vec![(small, 4)]);
        store.blobs().verify(&small).unwrap();
    });
}

#[test]
fn disk_full_at_commit_stores_nothing_and_space_freed_makes_the_store_work_again() {
    on_small_tmpfs("4m", |root| {
        let store = open(root, Duration::from_secs(1)).unwrap();
        // Leave less room than the next blob needs; its bytes sit in the writer's buffer
        // until commit, so commit is where the disk turns out to be full.
        let filler_size = free_bytes(root).saturating_sub(256 << 10) as usize;
        let filler = store.blobs().put(&vec![1u8; filler_size]).unwrap();
        let mut writer = store.blobs().writer().unwrap();
        writer.write_all(&vec![2u8; 700 << 10]).unwrap();
        assert_enospc(&writer.commit(None).unwrap_err());
        assert_eq!(tmp_entries(root), 0);
        assert_eq!(store.blobs().list().unwrap().len(), 1);

        // The index: records go in until the disk is full, then writes or the flush fail
        // with an error (never a panic), and what was flushed before stays readable.
        let key = |n: u32| Digest::of(&n.to_le_bytes());
        let record = |n: u32| StepRecord {
            diff_id: None,
            created: n.into(),
            last_used: 0,
        };
        store.index().put_step(&key(0), &record(0)).unwrap();
        store.index().flush().unwrap();
        let snapshot = store.snapshots().scratch("full");
        if let Ok(scratch) = &snapshot {
            let big = std::fs::write(scratch.path().join("big"), vec![3u8; 1 << 20]);
            assert_eq!(big.unwrap_err().raw_os_error(), Some(ENOSPC));
        }
        drop(snapshot);

        store.blobs().remove(&filler).unwrap();
        let digest = store.blobs().put(&vec![2u8; 700 << 10]).unwrap();
        store.blobs().verify(&digest).unwrap();
        store.index().put_step(&key(1), &record(1)).unwrap();
        store.index().flush().unwrap();
        drop(store);
        let store: Store = open(root, Duration::from_secs(1)).unwrap();
        assert_eq!(store.index().step(&key(0)).unwrap(), Some(record(0)));
        assert_eq!(store.index().step(&key(1)).unwrap(), Some(record(1)));
        assert_eq!(tmp_entries(root), 0);
    });
}

#[test]
fn the_index_on_a_full_disk_fails_cleanly_and_recovers() {
    on_small_tmpfs("3m", |root| {
        let key = |n: u32| Digest::of(&n.to_le_bytes());
        let record = |n: u32| StepRecord {
            diff_id: Some(Digest::of(b"layer")),
            created: n.into(),
            last_used: 0,
        };
        let filler;
        {
            let store = open(root, Duration::from_secs(1)).unwrap();
            for n in 0..100 {
                store.index().put_step(&key(n), &record(n)).unwrap();
            }
            store.index().flush().unwrap();
            let size = free_bytes(root).saturating_sub(64 << 10) as usize;
            filler = store.blobs().put(&vec![1u8; size]).unwrap();
            let mut failed = None;
            for n in 100..20_000 {
                if let Err(e) = store.index().put_step(&key(n), &record(n)) {
                    failed = Some(e);
                    break;
                }
                if n % 500 == 0 {
                    if let Err(e) = store.index().flush() {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let err = failed
                .or_else(|| store.index().flush().err())
                .expect("20k records cannot fit in 64 KiB");
            assert_enospc(&err);
        }
        // Free the space: the store opens and everything flushed before the disk filled up is
        // there, intact.
        std::fs::remove_file(root.join("blobs/sha256").join(filler.hex())).unwrap();
        let store = open(root, Duration::from_secs(1)).unwrap();
        for n in 0..100 {
            assert_eq!(store.index().step(&key(n)).unwrap(), Some(record(n)));
        }
        store.index().put_step(&key(1), &record(7)).unwrap();
        store.index().flush().unwrap();
    });
}

/// Fills the file system of `root` with a file `fill`, leaving `leave` bytes free.
fn fill_leaving(root: &Path, leave: u64) {
    let free = free_bytes(root);
    let mut file = std::fs::File::create(root.join("fill")).unwrap();
    file.write_all(&vec![0u8; free.saturating_sub(leave) as usize])
        .unwrap();
}

/// sled names its snapshot files `snap.<lsn>` and writes them as `snap.<lsn>.generating` first.
fn unfinished_snapshots(index: &Path) -> Vec<String> {
    std::fs::read_dir(index)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|name| name.starts_with("snap.") && name.ends_with(".generating"))
        .collect()
}

/// Regression: sled writes a snapshot while it opens; on a full disk that write fails and
/// leaves an empty or cut-short `snap.*.generating`, which sled then reads as its newest
/// snapshot: every later open failed with `Read corrupted data`, even with space back.
#[test]
fn an_index_left_unreadable_by_a_full_disk_is_repaired_on_the_next_open_losing_nothing() {
    let backup = tempfile::tempdir().unwrap();
    let saved = backup.path().join("index");
    on_small_tmpfs("4m", |root| {
        let index = root.join("index");
        let key = |n: u32| Digest::of(&n.to_le_bytes());
        let record = |n: u32| StepRecord {
            diff_id: Some(Digest::of(b"layer")),
            created: n.into(),
            last_used: 0,
        };
        {
            let store = open(root, Duration::from_secs(1)).unwrap();
            for n in 0..1000 {
                store.index().put_step(&key(n), &record(n)).unwrap();
            }
            store.index().flush().unwrap();
        }
        let copy = |from: &Path, to: &Path| {
            let _ = std::fs::remove_dir_all(to);
            let status = Command::new("cp").arg("-a").arg(from).arg(to).status();
            assert!(status.unwrap().success());
        };
        copy(&index, &saved);
        // How much room sled needs to open (it grows its log file to a segment's end first)
        // and how big its snapshot is depend on sled's layout: from the same index each time,
        // leave a little more room until the open gets as far as the snapshot and fails there.
        let leftover = (0..64u64).find_map(|step| {
            fill_leaving(root, step * 4096);
            let opened = open(root, Duration::from_secs(1)).map(drop);
            let leftover = unfinished_snapshots(&index);
            std::fs::remove_file(root.join("fill")).unwrap();
            match opened {
                Err(_) if !leftover.is_empty() => Some(leftover),
                Err(e) => {
                    assert_enospc(&e);
                    copy(&saved, &index);
                    None
                }
                Ok(()) => panic!("sled opened with {step} pages free without failing first"),
            }
        });
        let leftover = leftover.expect("a full disk while sled writes its snapshot");

        // Space is back: the store opens, says what it repaired, and has every record.
        let store = open(root, Duration::from_secs(1)).unwrap();
        assert_eq!(store.repairs().len(), 1, "{:?}", store.repairs());
        assert!(
            store.repairs()[0].contains(&leftover[0]) && store.repairs()[0].contains("disk"),
            "{:?}",
            store.repairs()
        );
        assert!(unfinished_snapshots(&index).is_empty());
        assert_eq!(store.index().steps().unwrap().len(), 1000);
        for n in 0..1000 {
            assert_eq!(store.index().step(&key(n)).unwrap(), Some(record(n)), "{n}");
        }
        store.index().put_step(&key(1000), &record(1)).unwrap();
        store.index().flush().unwrap();
        drop(store);
        let store = open(root, Duration::from_secs(1)).unwrap();
        assert!(store.repairs().is_empty(), "{:?}", store.repairs());
        assert_eq!(store.index().step(&key(1000)).unwrap(), Some(record(1)));
    });
}
