//! The store through the CLI: `du`, `prune`, `--root`, and waiting for another process's lock.

use std::time::Duration;

use strata_cache::{OpenOptions, Store};

use crate::util::TestEnv;

#[test]
fn du_and_prune_work_on_a_fresh_root() {
    let env = TestEnv::new();
    let du = env.ok(&["du"]);
    assert!(
        du.contains("blobs") && du.contains("Reclaimable: 0B"),
        "{du}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["du", "--format", "json"])).unwrap();
    assert_eq!(json["blobs"]["count"], 0);
    let pruned = env.ok(&[
        "prune",
        "--all",
        "--keep-storage",
        "1GB",
        "--filter",
        "until=1h",
    ]);
    assert!(pruned.contains("Total reclaimed space: 0B"), "{pruned}");
    assert!(env.root().join("blobs/sha256").is_dir());
}

#[test]
fn prune_reclaims_orphaned_blobs_and_reports_them() {
    let env = TestEnv::new();
    {
        let store = Store::open(&env.root(), &OpenOptions::default()).unwrap();
        store.blobs().put(&vec![1u8; 4096]).unwrap();
    }
    let du = env.ok(&["du"]);
    assert!(du.contains("Reclaimable: 4.096kB"), "{du}");
    let pruned = env.ok(&["prune"]);
    assert!(
        pruned.contains("1 blobs") && pruned.contains("4.096kB"),
        "{pruned}"
    );
}

#[test]
fn bad_prune_arguments_are_clear_errors() {
    let env = TestEnv::new();
    let output = env.run(&["prune", "--filter", "label=x"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported filter `label=x`"));
    let output = env.run(&["prune", "--keep-storage", "lots"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid size `lots`"));
}

#[test]
fn a_second_strata_waits_for_the_lock_says_so_once_and_then_proceeds() {
    let env = TestEnv::new();
    let holder = Store::open(&env.root(), &OpenOptions::default()).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(holder);
    });
    let output = env.run(&["--lock-timeout", "30s", "du"]);
    release.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("waiting for the lock on").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_lock_held_too_long_fails_with_the_root_named() {
    let env = TestEnv::new();
    let _holder = Store::open(&env.root(), &OpenOptions::default()).unwrap();
    let output = env.run(&["--lock-timeout", "1s", "du"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("timed out after 1s waiting for the lock"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&env.root().display().to_string()),
        "{stderr}"
    );
}
