use std::collections::BTreeMap;

use super::*;
use crate::index::{LayerRecord, StepRecord};
use crate::store::OpenOptions;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
    (dir, store)
}

/// A layer: a snapshot dir with one file, its record, and optionally a gzip blob.
fn layer(store: &Store, name: &str, size: u64) -> Digest {
    let scratch = store.snapshots().scratch("test").unwrap();
    std::fs::write(scratch.path().join(name), name).unwrap();
    let diff_id = Digest::of(name.as_bytes());
    store.snapshots().install(scratch, &diff_id).unwrap();
    let blob = store.blobs().put(format!("gz:{name}").as_bytes()).unwrap();
    let mut blobs = BTreeMap::new();
    blobs.insert(
        "gzip".to_string(),
        crate::index::BlobRef {
            digest: blob,
            size: 10,
        },
    );
    store
        .index()
        .put_layer(&LayerRecord {
            diff_id,
            size,
            blobs,
            created: 0,
            source_date_epoch: None,
        })
        .unwrap();
    diff_id
}

fn tag_image(store: &Store, tag: &str, layers: &[Digest]) {
    let diff_ids: Vec<String> = layers.iter().map(|d| d.to_string()).collect();
    let config = store
        .blobs()
        .put(
            serde_json::json!({"rootfs": {"type": "layers", "diff_ids": diff_ids}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let manifest = store
        .blobs()
        .put(
            serde_json::json!({"config": {"digest": config.to_string()}, "layers": []})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    store.index().put_tag(tag, &manifest).unwrap();
}

fn cache(store: &Store, n: u8, diff_id: Digest, last_used: i64) {
    store
        .index()
        .put_step(
            &Digest::from_bytes([n; 32]),
            &StepRecord {
                diff_id: Some(diff_id),
                created: 0,
                last_used,
            },
        )
        .unwrap();
}

#[test]
fn prune_keeps_tagged_images_and_removes_orphans() {
    let (_dir, store) = store();
    let kept = layer(&store, "kept", 100);
    let orphan = layer(&store, "orphan", 50);
    tag_image(&store, "app:1", &[kept]);
    let report = prune(&store, &PruneOptions::default(), 1000).unwrap();
    assert_eq!(report.snapshots, 1);
    assert!(store.snapshots().exists(&kept));
    assert!(!store.snapshots().exists(&orphan));
    assert!(store.index().layer(&orphan).unwrap().is_none());
    let kept_record = store.index().layer(&kept).unwrap().unwrap();
    assert!(store.blobs().exists(&kept_record.blobs["gzip"].digest));
}

#[test]
fn cache_entries_are_roots_until_pruned_by_age_or_size() {
    let (_dir, store) = store();
    let old = layer(&store, "old", 100);
    let recent = layer(&store, "recent", 100);
    cache(&store, 1, old, 10);
    cache(&store, 2, recent, 990);
    // Nothing is old enough: all stays.
    let report = prune(
        &store,
        &PruneOptions {
            older_than: Some(5000),
            ..Default::default()
        },
        1000,
    )
    .unwrap();
    assert_eq!(report, PruneReport::default());
    // Keep 100 bytes of cache: the least recently used entry goes.
    let report = prune(
        &store,
        &PruneOptions {
            keep_storage: Some(100),
            ..Default::default()
        },
        1000,
    )
    .unwrap();
    assert_eq!((report.cache_entries, report.snapshots), (1, 1));
    assert!(!store.snapshots().exists(&old));
    assert!(store.snapshots().exists(&recent));
}

#[test]
fn prune_all_drops_cache_but_not_tagged_layers() {
    let (_dir, store) = store();
    let image_layer = layer(&store, "image", 10);
    let cache_only = layer(&store, "cache", 10);
    tag_image(&store, "app:1", &[image_layer]);
    cache(&store, 1, image_layer, 0);
    cache(&store, 2, cache_only, 0);
    let usage_before = usage(&store).unwrap();
    assert_eq!(usage_before.snapshots.0, 2);
    assert!(usage_before.reclaimable >= 10);
    let report = prune(
        &store,
        &PruneOptions {
            all: true,
            ..Default::default()
        },
        0,
    )
    .unwrap();
    assert_eq!(report.cache_entries, 2);
    assert!(store.snapshots().exists(&image_layer));
    assert!(!store.snapshots().exists(&cache_only));
    assert_eq!(usage(&store).unwrap().reclaimable, 0);
}
