//! A store used by someone who is not root: snapshots with read-only directories (as layers
//! often have: `/usr` 0555) must still be deletable by GC and by the cleanup on open.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use strata_cache::Digest;

use crate::helpers::{child_role, is_root, open, skip_unless, spawn_child, tmp_entries};

const NOBODY: u32 = 65534;

#[test]
fn read_only_snapshots_are_deleted_by_a_user_without_root() {
    if let Some((_, root)) = child_role() {
        // Raw libc: rustix's set_thread_* change one thread only, and the ids must hold for
        // every thread of the process, as glibc's setuid and friends make them.
        // SAFETY: plain syscalls; glibc applies the new ids to every thread of the process.
        unsafe {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(NOBODY), 0);
            assert_eq!(libc::setuid(NOBODY), 0);
        }
        let read_only = |dir: &std::path::Path| {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap()
        };
        {
            let store = open(&root, Duration::from_secs(5)).unwrap();
            let scratch = store.snapshots().scratch("layer").unwrap();
            let lib = scratch.path().join("usr/lib");
            std::fs::create_dir_all(&lib).unwrap();
            std::fs::write(lib.join("libc.so"), b"elf").unwrap();
            read_only(&lib);
            read_only(&scratch.path().join("usr"));
            let diff_id = Digest::of(b"read-only layer");
            store.snapshots().install(scratch, &diff_id).unwrap();
            store.snapshots().remove(&diff_id).unwrap();
            assert!(!store.snapshots().exists(&diff_id));

            // A read-only tree left in tmp/ by a killed process goes at the next open.
            let left = store.snapshots().scratch("killed").unwrap().keep();
            std::fs::create_dir_all(left.join("etc/ssl")).unwrap();
            std::fs::write(left.join("etc/ssl/cert.pem"), b"pem").unwrap();
            read_only(&left.join("etc/ssl"));
            read_only(&left.join("etc"));
            read_only(&left);
        }
        let _store = open(&root, Duration::from_secs(5)).unwrap();
        assert_eq!(tmp_entries(&root), 0);
        println!("child done");
        std::process::exit(0);
    }
    if skip_unless(is_root(), "switching to an unprivileged user needs root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(NOBODY), Some(NOBODY)).unwrap();
    let child = spawn_child(
        "permission_tests::read_only_snapshots_are_deleted_by_a_user_without_root",
        "nobody",
        &root,
    );
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("child done"));
}
