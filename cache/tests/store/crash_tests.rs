//! SIGKILL at any point of a write or of GC leaves a store that opens cleanly and answers
//! correctly: every blob holds what its name says, every snapshot is complete, every record
//! points at data that is there, and `tmp/` is emptied on open.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use strata_cache::gc::{prune, PruneOptions};
use strata_cache::{BlobRef, Digest, Hasher, LayerRecord, StepRecord, Store};

use crate::helpers::{announce, child_role, open, spawn_child, tmp_entries, wait_for};

/// A digest of a directory tree's paths and contents, to name test snapshots by what they
/// hold and to check later that they still hold all of it.
fn tree_digest(dir: &Path) -> Digest {
    fn walk(dir: &Path, rel: &str, hasher: &mut Hasher) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = format!("{rel}/{}", path.file_name().unwrap().to_string_lossy());
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            if path.is_dir() {
                walk(&path, &name, hasher);
            } else {
                hasher.update(&std::fs::read(&path).unwrap());
            }
        }
    }
    let mut hasher = Hasher::new();
    walk(dir, "", &mut hasher);
    hasher.finish()
}

/// A snapshot of `files` files with contents derived from `seed`, installed under the digest
/// of what it holds.
fn install_snapshot(store: &Store, seed: u64, files: u64) -> Digest {
    let scratch = store.snapshots().scratch("test").unwrap();
    for i in 0..files {
        let dir = scratch.path().join(format!("d{}", i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        let content = format!("{seed}:{i}:").repeat(1 + (seed + i) as usize % 300);
        std::fs::write(dir.join(format!("f{i}")), content).unwrap();
    }
    let diff_id = tree_digest(scratch.path());
    store.snapshots().install(scratch, &diff_id).unwrap();
    diff_id
}

/// Checks everything the store claims.
fn check_store(store: &Store, when: &str) {
    assert_eq!(tmp_entries(store.root()), 0, "{when}: tmp/ not emptied");
    for (digest, _) in store.blobs().list().unwrap() {
        store
            .blobs()
            .verify(&digest)
            .unwrap_or_else(|e| panic!("{when}: {e}"));
    }
    for diff_id in store.snapshots().list().unwrap() {
        assert_eq!(
            tree_digest(&store.snapshots().path(&diff_id)),
            diff_id,
            "{when}: snapshot {diff_id} is incomplete"
        );
    }
    for (_, record) in store.index().steps().unwrap() {
        if let Some(diff_id) = record.diff_id {
            assert!(
                store.snapshots().exists(&diff_id),
                "{when}: a cache entry points at a missing snapshot"
            );
        }
    }
    for record in store.index().layers().unwrap() {
        for blob in record.blobs.values() {
            assert!(
                store.blobs().exists(&blob.digest),
                "{when}: a layer record points at a missing blob"
            );
        }
    }
    for (name, manifest) in store.index().tags().unwrap() {
        assert!(
            store.blobs().exists(&manifest),
            "{when}: tag {name} points at a missing manifest"
        );
    }
}

/// The writer child: blobs streamed in uneven chunks, snapshots, layer records, cache entries
/// and tags, in the order the builder uses (data first, then the records naming it), forever.
fn write_forever(root: &Path) -> ! {
    let store = open(root, Duration::from_secs(10)).unwrap();
    for n in 0u64.. {
        let size = (1 + n as usize % 4) << 20;
        let bytes: Vec<u8> = (0..size).map(|i| (i as u64 ^ n) as u8).collect();
        let mut writer = store.blobs().writer().unwrap();
        for chunk in bytes.chunks(40_000 + (n as usize % 5) * 100_000) {
            writer.write_all(chunk).unwrap();
        }
        let (blob, blob_size) = writer.commit(None).unwrap();
        let diff_id = install_snapshot(&store, n, 40);
        let record = LayerRecord {
            diff_id,
            size: blob_size,
            blobs: BTreeMap::from([(
                "gzip".to_string(),
                BlobRef {
                    digest: blob,
                    size: blob_size,
                },
            )]),
            created: n as i64,
            source_date_epoch: None,
        };
        store.index().put_layer(&record).unwrap();
        let step = StepRecord {
            diff_id: Some(diff_id),
            created: n as i64,
            last_used: n as i64,
        };
        store
            .index()
            .put_step(&Digest::of(&n.to_le_bytes()), &step)
            .unwrap();
        if n % 3 == 0 {
            let manifest = serde_json::json!({"layers": [{"digest": blob.to_string()}]});
            let manifest = store.blobs().put(manifest.to_string().as_bytes()).unwrap();
            store
                .index()
                .put_tag(&format!("app:{n}"), &manifest)
                .unwrap();
        }
        if n % 4 == 3 {
            // As the builder does at the end of a build; kills land mid-flush too.
            store.index().flush().unwrap();
        }
        if n == 0 {
            announce("started");
        }
    }
    unreachable!()
}

#[test]
fn sigkill_mid_write_leaves_a_store_that_opens_and_answers_correctly() {
    if let Some((_, root)) = child_role() {
        write_forever(&root);
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..10u64 {
        let mut child = spawn_child(
            "crash_tests::sigkill_mid_write_leaves_a_store_that_opens_and_answers_correctly",
            "writer",
            dir.path(),
        );
        if round % 4 == 3 {
            // Early: while it opens the store and cleans up after the previous victim.
            std::thread::sleep(Duration::from_millis(round * 3));
        } else {
            wait_for(&mut child, "started");
            // From the first blob to well past sled's own 500 ms flush.
            std::thread::sleep(Duration::from_millis(10 + round * round * 13));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let store = open(dir.path(), Duration::from_secs(5)).unwrap();
        check_store(&store, &format!("after kill {round}"));
    }
    let store = open(dir.path(), Duration::from_secs(5)).unwrap();
    assert!(
        !store.index().steps().unwrap().is_empty(),
        "the children got some work done"
    );
    prune(
        &store,
        &PruneOptions {
            all: true,
            ..Default::default()
        },
        0,
    )
    .unwrap();
    check_store(&store, "after a full prune");
    assert!(store.snapshots().list().unwrap().is_empty());
}

#[test]
fn sigkill_mid_gc_never_harms_a_tagged_image() {
    if let Some((_, root)) = child_role() {
        let store = open(&root, Duration::from_secs(10)).unwrap();
        announce("pruning");
        let options = PruneOptions {
            all: true,
            ..Default::default()
        };
        prune(&store, &options, i64::MAX).unwrap();
        announce("pruned");
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().unwrap();
    let (image_layers, manifest) = {
        let store = open(dir.path(), Duration::from_secs(5)).unwrap();
        let layers = [
            install_snapshot(&store, 1_000_001, 300),
            install_snapshot(&store, 1_000_002, 300),
        ];
        let blob = store.blobs().put(b"compressed image layer").unwrap();
        for diff_id in layers {
            let record = LayerRecord {
                diff_id,
                size: 1,
                blobs: BTreeMap::from([(
                    "gzip".into(),
                    BlobRef {
                        digest: blob,
                        size: 22,
                    },
                )]),
                created: 0,
                source_date_epoch: None,
            };
            store.index().put_layer(&record).unwrap();
        }
        let ids: Vec<String> = layers.iter().map(Digest::to_string).collect();
        let config = serde_json::json!({"rootfs": {"diff_ids": ids}}).to_string();
        let config = store.blobs().put(config.as_bytes()).unwrap();
        let manifest = serde_json::json!({
            "config": {"digest": config.to_string()},
            "layers": [{"digest": blob.to_string()}],
        });
        let manifest = store.blobs().put(manifest.to_string().as_bytes()).unwrap();
        store.index().put_tag("keep:me", &manifest).unwrap();
        (layers, manifest)
    };
    let mut interrupted = 0;
    for round in 0..6u64 {
        {
            // Garbage and cache for the victim to collect.
            let store = open(dir.path(), Duration::from_secs(5)).unwrap();
            for g in 0..12 {
                let diff_id = install_snapshot(&store, round * 100 + g, 150);
                let step = StepRecord {
                    diff_id: Some(diff_id),
                    created: 0,
                    last_used: 0,
                };
                store
                    .index()
                    .put_step(&Digest::of(&[round as u8, g as u8]), &step)
                    .unwrap();
                store.blobs().put(&vec![g as u8; 200_000]).unwrap();
            }
            store.index().flush().unwrap();
        }
        let mut child = spawn_child(
            "crash_tests::sigkill_mid_gc_never_harms_a_tagged_image",
            "gc",
            dir.path(),
        );
        wait_for(&mut child, "pruning");
        std::thread::sleep(Duration::from_millis(round * 15));
        child.kill().unwrap();
        child.wait().unwrap();
        let left = std::fs::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .count();
        let mid_delete = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        eprintln!("GC killed in round {round}: {left} snapshots left, {mid_delete} mid-delete");
        if left > image_layers.len() {
            interrupted += 1;
        }
        let store = open(dir.path(), Duration::from_secs(5)).unwrap();
        check_store(&store, &format!("after killing GC {round}"));
        assert_eq!(store.index().tag("keep:me").unwrap(), Some(manifest));
        for diff_id in image_layers {
            assert!(store.snapshots().exists(&diff_id), "round {round}");
            assert!(store.index().layer(&diff_id).unwrap().is_some());
        }
    }
    assert!(interrupted > 0, "no kill landed before GC finished");
    let store = open(dir.path(), Duration::from_secs(5)).unwrap();
    prune(&store, &PruneOptions::default(), i64::MAX).unwrap();
    check_store(&store, "after a full prune");
    assert_eq!(store.snapshots().list().unwrap(), {
        let mut layers = image_layers.to_vec();
        layers.sort();
        layers
    });
    assert_eq!(store.blobs().list().unwrap().len(), 3);
}
