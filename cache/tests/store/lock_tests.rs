//! Several processes on one root: they take turns, wait with one message, or time out.

use std::time::{Duration, Instant};

use strata_cache::{Digest, StepRecord};

use crate::helpers::{announce, child_role, open, spawn_child, wait_for};

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
                "lock_tests::processes_take_turns_on_one_root_and_none_fails",
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
        announce("holding");
        std::thread::sleep(Duration::from_secs(30));
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut holder = spawn_child(
        "lock_tests::a_held_root_times_out_with_a_clear_error",
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
