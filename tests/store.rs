//! The store through the CLI: `du`, `prune`, `--root`/`STRATA_ROOT`, and several strata
//! processes contending for one root.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use strata_cache::{BlobRef, Digest, LayerRecord, OpenOptions, StepRecord, Store};

use crate::util::TestEnv;

fn open(env: &TestEnv) -> Store {
    Store::open(&env.root(), &OpenOptions::default()).unwrap()
}

/// A layer of `bytes` bytes (snapshot + a 16-byte compressed blob + record).
fn layer(store: &Store, name: &str, bytes: usize) -> Digest {
    let scratch = store.snapshots().scratch("test").unwrap();
    std::fs::write(scratch.path().join("file"), vec![b'x'; bytes]).unwrap();
    let diff_id = Digest::of(name.as_bytes());
    store.snapshots().install(scratch, &diff_id).unwrap();
    let blob = store.blobs().put(format!("{name:>16}").as_bytes()).unwrap();
    let blobs = BTreeMap::from([(
        "gzip".to_string(),
        BlobRef {
            digest: blob,
            size: 16,
        },
    )]);
    let record = LayerRecord {
        diff_id,
        size: bytes as u64,
        blobs,
        created: 0,
        source_date_epoch: None,
    };
    store.index().put_layer(&record).unwrap();
    diff_id
}

/// Tags an image made of `layers` (OCI manifest + config blobs).
fn tag(store: &Store, name: &str, layers: &[Digest]) {
    let config = serde_json::json!({
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(Digest::to_string).collect::<Vec<_>>()},
    });
    let config = store.blobs().put(config.to_string().as_bytes()).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"digest": config.to_string()},
        "layers": layers.iter().map(|d| {
            let blob = store.index().layer(d).unwrap().unwrap().blobs["gzip"].digest;
            serde_json::json!({"digest": blob.to_string()})
        }).collect::<Vec<_>>(),
    });
    let manifest = store.blobs().put(manifest.to_string().as_bytes()).unwrap();
    store.index().put_tag(name, &manifest).unwrap();
}

fn cache(store: &Store, n: u8, diff_id: Digest, last_used: i64) {
    let record = StepRecord {
        diff_id: Some(diff_id),
        created: 0,
        last_used,
    };
    store
        .index()
        .put_step(&Digest::from_bytes([n; 32]), &record)
        .unwrap();
}

fn du_json(env: &TestEnv) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["du", "--format", "json"])).unwrap()
}

#[test]
fn du_and_prune_work_on_a_fresh_root() {
    let env = TestEnv::new();
    let du = env.ok(&["du"]);
    assert!(
        du.contains("KIND") && du.contains("snapshots") && du.contains("Reclaimable: 0B"),
        "{du}"
    );
    let json = du_json(&env);
    assert_eq!(json["blobs"]["count"], 0);
    assert_eq!(json["reclaimable"], 0);
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
fn strata_root_in_the_environment_names_the_store() {
    let env = TestEnv::new();
    let output = std::process::Command::new(crate::util::strata_bin())
        .args(["du", "--format", "json"])
        .env("STRATA_ROOT", env.root())
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["root"], env.root().display().to_string());
    assert!(env.root().join("index").is_dir());
}

#[test]
fn prune_reclaims_orphaned_blobs_and_reports_them() {
    let env = TestEnv::new();
    open(&env).blobs().put(&[1u8; 4096]).unwrap();
    let du = env.ok(&["du"]);
    assert!(du.contains("Reclaimable: 4.096kB"), "{du}");
    let pruned = env.ok(&["prune"]);
    assert!(
        pruned.contains("1 blobs") && pruned.contains("4.096kB"),
        "{pruned}"
    );
}

#[test]
fn prune_keeps_tagged_images_drops_cache_by_the_rules_and_du_agrees() {
    let env = TestEnv::new();
    let (image_layer, old_cache, new_cache, orphan);
    {
        let store = open(&env);
        image_layer = layer(&store, "image", 3000);
        old_cache = layer(&store, "old", 2000);
        new_cache = layer(&store, "new", 1000);
        orphan = layer(&store, "orphan", 500);
        tag(&store, "app:1", &[image_layer]);
        let now = strata_cache::now();
        cache(&store, 1, image_layer, now - 7200);
        cache(&store, 2, old_cache, now - 7200);
        cache(&store, 3, new_cache, now);
    }
    let json = du_json(&env);
    assert_eq!(json["snapshots"]["count"], 4);
    assert_eq!(json["snapshots"]["bytes"], 6500);
    assert_eq!(json["build_cache"]["entries"], 3);
    assert_eq!(json["build_cache"]["bytes"], 2000 + 16 + 1000 + 16);
    assert_eq!(json["reclaimable"], 3500 + 3 * 16);
    let table = env.ok(&["du"]);
    assert!(table.contains("build cache"), "{table}");

    // Only cache unused for an hour: the old entry and the orphan go, the new entry stays.
    let pruned = env.ok(&["prune", "--filter", "until=1h"]);
    assert!(
        pruned.contains("Deleted 1 cache entries, 2 snapshots"),
        "{pruned}"
    );
    assert!(pruned.contains("2.532kB"), "{pruned}");
    // Without --all the image's cache entry survives; with it, it goes, the image stays.
    let pruned = env.ok(&["prune"]);
    assert!(
        pruned.contains("Deleted 1 cache entries, 1 snapshots"),
        "{pruned}"
    );
    let pruned = env.ok(&["prune", "--all"]);
    assert!(
        pruned.contains("Deleted 1 cache entries, 0 snapshots, 0 blobs"),
        "{pruned}"
    );
    let store = open(&env);
    assert!(store.snapshots().exists(&image_layer));
    for gone in [old_cache, new_cache, orphan] {
        assert!(!store.snapshots().exists(&gone));
    }
    assert!(store.index().tag("app:1").unwrap().is_some());
    assert!(store.index().steps().unwrap().is_empty());
}

#[test]
fn keep_storage_takes_docker_sizes() {
    let env = TestEnv::new();
    {
        let store = open(&env);
        let big = layer(&store, "big", 600 << 10);
        let small = layer(&store, "small", 300 << 10);
        cache(&store, 1, big, 1);
        cache(&store, 2, small, 2);
    }
    // 1MB is 1 MiB for docker: 900 KiB of cache fits, nothing goes.
    let pruned = env.ok(&["prune", "--keep-storage", "1MB"]);
    assert!(pruned.contains("Deleted 0 cache entries"), "{pruned}");
    // 512k: the least recently used (the big one) goes, the small one fits.
    let pruned = env.ok(&["prune", "--keep-storage", "512k"]);
    assert!(
        pruned.contains("Deleted 1 cache entries, 1 snapshots"),
        "{pruned}"
    );
    assert_eq!(du_json(&env)["build_cache"]["entries"], 1);
}

#[test]
fn bad_prune_arguments_are_clear_errors() {
    let env = TestEnv::new();
    let stderr = |args: &[&str]| {
        let output = env.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(stderr(&["prune", "--filter", "label=x"]).contains("unsupported filter `label=x`"));
    let err = stderr(&["prune", "--keep-storage", "lots"]);
    assert!(
        err.contains("--keep-storage") && err.contains("invalid size `lots`"),
        "{err}"
    );
    let err = stderr(&["prune", "--filter", "until=soon"]);
    assert!(err.contains("invalid duration \"soon\""), "{err}");
    let err = stderr(&["--lock-timeout", "forever", "du"]);
    assert!(err.contains("--lock-timeout"), "{err}");
    assert!(!env.root().exists(), "bad arguments create no store");
}

#[test]
fn a_second_strata_waits_for_the_lock_says_so_once_and_then_proceeds() {
    let env = TestEnv::new();
    let holder = open(&env);
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
    assert!(
        stderr.contains("held by another strata process"),
        "{stderr}"
    );
}

#[test]
fn several_strata_processes_at_once_all_finish_and_none_corrupts_the_store() {
    let env = TestEnv::new();
    let orphan = {
        let store = open(&env);
        layer(&store, "orphan", 100)
    };
    let holder = open(&env);
    let children: Vec<_> = (0..6)
        .map(|i| {
            let args: &[&str] = match i % 3 {
                0 => &["du", "--format", "json"],
                1 => &["prune"],
                _ => &["prune", "--all"],
            };
            env.strata(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Everyone starts while the root is busy.
    std::thread::sleep(Duration::from_millis(500));
    drop(holder);
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(
            stderr.matches("waiting for the lock").count() <= 1,
            "told once at most: {stderr}"
        );
    }
    let store = open(&env);
    assert!(!store.snapshots().exists(&orphan));
    assert!(store.blobs().list().unwrap().is_empty());
}

#[test]
fn a_lock_held_too_long_fails_with_the_root_named() {
    let env = TestEnv::new();
    let _holder = open(&env);
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
