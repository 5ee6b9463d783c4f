use std::collections::BTreeMap;

use super::*;
use crate::index::{BlobRef, FileHashEntry, LayerRecord, StepRecord};
use crate::store::OpenOptions;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
    (dir, store)
}

/// A layer: a snapshot holding one file of `bytes` bytes, a 10-byte "gzip" blob, and the
/// record tying them together. It occupies `bytes + 10` bytes.
fn layer(store: &Store, name: &str, bytes: usize) -> Digest {
    let scratch = store.snapshots().scratch("test").unwrap();
    std::fs::write(scratch.path().join(name), vec![b'x'; bytes]).unwrap();
    let diff_id = Digest::of(name.as_bytes());
    store.snapshots().install(scratch, &diff_id).unwrap();
    let blob = store
        .blobs()
        .put(format!("gz:{name:>7}").as_bytes())
        .unwrap();
    let mut blobs = BTreeMap::new();
    blobs.insert(
        "gzip".to_string(),
        BlobRef {
            digest: blob,
            size: 10,
        },
    );
    store
        .index()
        .put_layer(&LayerRecord {
            diff_id,
            size: bytes as u64,
            blobs,
            created: 0,
            source_date_epoch: None,
        })
        .unwrap();
    diff_id
}

fn gzip_blob(store: &Store, diff_id: &Digest) -> Digest {
    store.index().layer(diff_id).unwrap().unwrap().blobs["gzip"].digest
}

/// Stores a config and a manifest for `layers` (not tagged); returns the manifest digest.
fn image(store: &Store, layers: &[Digest]) -> Digest {
    let diff_ids: Vec<String> = layers.iter().map(|d| d.to_string()).collect();
    let layer_blobs: Vec<_> = layers
        .iter()
        .map(|d| serde_json::json!({"digest": gzip_blob(store, d).to_string()}))
        .collect();
    let config = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let config = store.blobs().put(config.to_string().as_bytes()).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"digest": config.to_string()},
        "layers": layer_blobs,
    });
    store.blobs().put(manifest.to_string().as_bytes()).unwrap()
}

fn tag_image(store: &Store, tag: &str, layers: &[Digest]) -> Digest {
    let manifest = image(store, layers);
    store.index().put_tag(tag, &manifest).unwrap();
    manifest
}

fn cache(store: &Store, n: u8, diff_id: Option<Digest>, last_used: i64) -> Digest {
    let key = Digest::from_bytes([n; 32]);
    let record = StepRecord {
        diff_id,
        created: 0,
        last_used,
    };
    store.index().put_step(&key, &record).unwrap();
    key
}

fn options(f: impl FnOnce(&mut PruneOptions)) -> PruneOptions {
    let mut options = PruneOptions::default();
    f(&mut options);
    options
}

#[test]
fn prune_keeps_tagged_images_and_removes_orphans() {
    let (_dir, store) = store();
    let kept = layer(&store, "kept", 100);
    let orphan = layer(&store, "orphan", 50);
    let manifest = tag_image(&store, "app:1", &[kept]);
    let untagged = image(&store, &[orphan]);
    let stray = store.blobs().put(b"written by a killed load").unwrap();
    let report = prune(&store, &PruneOptions::default(), 1000).unwrap();
    assert_eq!((report.snapshots, report.cache_entries), (1, 0));
    // The orphan's gzip blob, the untagged manifest and its config, the stray blob.
    assert_eq!(report.blobs, 4);
    assert!(store.snapshots().exists(&kept));
    assert!(!store.snapshots().exists(&orphan));
    assert!(store.index().layer(&orphan).unwrap().is_none());
    assert!(store.blobs().exists(&gzip_blob(&store, &kept)));
    assert!(store.blobs().exists(&manifest));
    assert!(!store.blobs().exists(&untagged));
    assert!(!store.blobs().exists(&stray));
    // A second prune finds nothing.
    assert_eq!(
        prune(&store, &PruneOptions::default(), 1000).unwrap(),
        PruneReport::default()
    );
}

#[test]
fn an_image_index_reaches_every_platform_manifest() {
    let (_dir, store) = store();
    let amd64 = layer(&store, "amd64", 10);
    let arm64 = layer(&store, "arm64", 10);
    let m1 = image(&store, &[amd64]);
    let m2 = image(&store, &[arm64]);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"digest": m1.to_string()}, {"digest": m2.to_string()}],
    });
    let index = store.blobs().put(index.to_string().as_bytes()).unwrap();
    store.index().put_tag("multi:1", &index).unwrap();
    let report = prune(&store, &options(|o| o.all = true), 0).unwrap();
    assert_eq!(report, PruneReport::default());
    assert!(store.snapshots().exists(&amd64) && store.snapshots().exists(&arm64));
}

#[test]
fn a_tag_whose_manifest_is_missing_or_corrupt_does_not_stop_gc() {
    let (_dir, store) = store();
    let layer_a = layer(&store, "a", 10);
    let manifest = tag_image(&store, "broken:1", &[layer_a]);
    std::fs::write(store.blobs().path(&manifest), b"bit rot").unwrap();
    store
        .index()
        .put_tag("gone:1", &Digest::of(b"never stored"))
        .unwrap();
    let report = prune(&store, &PruneOptions::default(), 0).unwrap();
    // The broken image reaches nothing past its manifest, which stays (it is tagged).
    assert_eq!(report.snapshots, 1);
    assert!(store.blobs().exists(&manifest));
}

#[test]
fn default_prune_drops_cache_only_entries_and_all_drops_the_rest() {
    let (_dir, store) = store();
    let image_layer = layer(&store, "image", 10);
    let cache_only = layer(&store, "cache", 10);
    tag_image(&store, "app:1", &[image_layer]);
    let image_step = cache(&store, 1, Some(image_layer), 0);
    let cache_step = cache(&store, 2, Some(cache_only), 0);
    let no_layer_step = cache(&store, 3, None, 0);

    let report = prune(&store, &PruneOptions::default(), 0).unwrap();
    assert_eq!((report.cache_entries, report.snapshots), (2, 1));
    assert!(store.index().step(&image_step).unwrap().is_some());
    assert!(store.index().step(&cache_step).unwrap().is_none());
    assert!(store.index().step(&no_layer_step).unwrap().is_none());
    assert!(!store.snapshots().exists(&cache_only));

    let report = prune(&store, &options(|o| o.all = true), 0).unwrap();
    assert_eq!((report.cache_entries, report.snapshots), (1, 0));
    assert!(store.index().steps().unwrap().is_empty());
    assert!(store.snapshots().exists(&image_layer), "the image needs it");
}

#[test]
fn cache_entries_are_roots_until_old_enough() {
    let (_dir, store) = store();
    let old = layer(&store, "old", 100);
    let recent = layer(&store, "recent", 100);
    cache(&store, 1, Some(old), 10);
    cache(&store, 2, Some(recent), 990);
    let report = prune(&store, &options(|o| o.older_than = Some(5000)), 1000).unwrap();
    assert_eq!(report, PruneReport::default(), "nothing is old enough");
    let report = prune(&store, &options(|o| o.older_than = Some(500)), 1000).unwrap();
    assert_eq!((report.cache_entries, report.snapshots), (1, 1));
    assert_eq!(report.bytes, 100 + 10);
    assert!(!store.snapshots().exists(&old));
    assert!(store.snapshots().exists(&recent));
}

#[test]
fn keep_storage_drops_least_recently_used_and_counts_shared_layers_once() {
    let (_dir, store) = store();
    let a = layer(&store, "a", 1000);
    let b = layer(&store, "b", 1000);
    let c = layer(&store, "c", 1000);
    // Two cache keys share layer `a` (the same RUN in two Dockerfiles).
    cache(&store, 1, Some(a), 1);
    cache(&store, 2, Some(b), 2);
    cache(&store, 3, Some(a), 3);
    cache(&store, 4, Some(c), 4);
    // Held: 3 layers × 1010 bytes. Keep 2100: dropping entry 1 frees nothing (entry 3 still
    // uses `a`), dropping entry 2 frees `b`, and then 2020 fits.
    let report = prune(&store, &options(|o| o.keep_storage = Some(2100)), 10).unwrap();
    assert_eq!(report.cache_entries, 2);
    assert_eq!((report.snapshots, report.bytes), (1, 1010));
    assert!(store.snapshots().exists(&a) && store.snapshots().exists(&c));
    assert!(!store.snapshots().exists(&b));
    // Already fits: nothing more goes.
    let report = prune(&store, &options(|o| o.keep_storage = Some(2100)), 10).unwrap();
    assert_eq!(report, PruneReport::default());
    // Keep nothing: everything goes.
    let report = prune(&store, &options(|o| o.keep_storage = Some(0)), 10).unwrap();
    assert_eq!((report.cache_entries, report.snapshots), (2, 2));
}

#[test]
fn entries_whose_snapshot_is_gone_are_always_dropped() {
    let (_dir, store) = store();
    let vanished = layer(&store, "vanished", 10);
    let key = cache(&store, 1, Some(vanished), 1000);
    crate::remove_tree(&store.snapshots().path(&vanished)).unwrap();
    // Filters that keep every live entry still drop the dead one.
    let report = prune(
        &store,
        &options(|o| {
            o.older_than = Some(1 << 40);
            o.keep_storage = Some(u64::MAX);
        }),
        1000,
    )
    .unwrap();
    assert_eq!(report.cache_entries, 1);
    assert!(store.index().step(&key).unwrap().is_none());
    assert!(store.index().layer(&vanished).unwrap().is_none());
}

#[test]
fn usage_predicts_what_prune_frees() {
    let (_dir, store) = store();
    let image_layer = layer(&store, "image", 300);
    let cached = layer(&store, "cached", 200);
    let orphan = layer(&store, "orphan", 100);
    tag_image(&store, "app:1", &[image_layer]);
    cache(&store, 1, Some(image_layer), 0);
    cache(&store, 2, Some(cached), 0);
    let usage_before = usage(&store).unwrap();
    assert_eq!(usage_before.snapshots, (3, 600));
    assert_eq!(
        usage_before.blobs.0,
        3 + 2,
        "three gzip blobs, a config, a manifest"
    );
    assert_eq!(usage_before.cache_entries, 2);
    assert_eq!(usage_before.tags, 1);
    assert_eq!(
        usage_before.cache_bytes, 210,
        "the image's layer is not cache-only"
    );
    assert_eq!(usage_before.reclaimable_snapshots, 300);
    assert_eq!(usage_before.reclaimable_blobs, 20);
    assert_eq!(usage_before.reclaimable, 320);
    assert!(usage_before.index_bytes > 0);
    let report = prune(&store, &PruneOptions::default(), 0).unwrap();
    assert_eq!(report.bytes, usage_before.reclaimable);
    assert!(!store.snapshots().exists(&orphan));
    let after = usage(&store).unwrap();
    assert_eq!((after.reclaimable, after.cache_bytes), (0, 0));
    assert_eq!(after.snapshots, (1, 300));
}

#[test]
fn prune_all_forgets_file_hashes_and_stale_trees() {
    let (_dir, store) = store();
    let entry = FileHashEntry {
        dev: 1,
        ino: 2,
        size: 3,
        mtime_ns: 4,
        ctime_ns: 5,
        digest: Digest::of(b"x"),
    };
    store.index().put_file_hash(b"/ctx/x", &entry).unwrap();
    prune(&store, &PruneOptions::default(), 0).unwrap();
    assert_eq!(
        store.index().file_hash_count().unwrap(),
        1,
        "kept without --all"
    );
    prune(&store, &options(|o| o.all = true), 0).unwrap();
    assert_eq!(store.index().file_hash_count().unwrap(), 0);
}

#[test]
fn prune_all_removes_cache_mounts_and_the_blob_source_record_that_usage_counts() {
    let (_dir, store) = store();
    let mount = store.cache_mounts_dir().join("npm");
    std::fs::create_dir_all(mount.join("sub")).unwrap();
    std::fs::write(mount.join("sub/pkg"), vec![b'x'; 1000]).unwrap();
    let sources = store.blob_sources_path();
    assert!(sources.starts_with(store.root()));
    std::fs::create_dir_all(sources.parent().unwrap()).unwrap();
    std::fs::write(&sources, vec![b'{'; 4096]).unwrap();
    let before = usage(&store).unwrap();
    assert_eq!(before.cache_mounts, (1, 1000));
    let without_sources = {
        std::fs::rename(&sources, store.tmp_dir().join("aside")).unwrap();
        let index_only = usage(&store).unwrap().index_bytes;
        std::fs::rename(store.tmp_dir().join("aside"), &sources).unwrap();
        index_only
    };
    assert_eq!(before.index_bytes, without_sources + 4096);

    let report = prune(&store, &PruneOptions::default(), 0).unwrap();
    assert_eq!(report.cache_mounts, 0, "kept without --all");
    assert!(mount.exists() && sources.exists());
    let report = prune(&store, &options(|o| o.all = true), 0).unwrap();
    assert_eq!((report.cache_mounts, report.bytes), (1, 1000));
    assert!(!mount.exists() && !sources.exists());
    assert_eq!(usage(&store).unwrap().cache_mounts, (0, 0));
    // Nothing left to remove is no error.
    assert_eq!(
        prune(&store, &options(|o| o.all = true), 0).unwrap(),
        PruneReport::default()
    );
}

#[test]
fn a_file_hard_linked_between_snapshots_is_counted_once_and_not_freed_while_linked() {
    // COPY reuse hard-links the unchanged files of a snapshot into the next one.
    let (_dir, store) = store();
    let kept = layer(&store, "kept", 300);
    tag_image(&store, "app:1", &[kept]);
    let scratch = store.snapshots().scratch("test").unwrap();
    std::fs::hard_link(
        store.snapshots().path(&kept).join("kept"),
        scratch.path().join("kept"),
    )
    .unwrap();
    std::fs::write(scratch.path().join("own"), vec![b'y'; 50]).unwrap();
    let relinked = Digest::of(b"relinked");
    store.snapshots().install(scratch, &relinked).unwrap();
    let before = usage(&store).unwrap();
    assert_eq!(before.snapshots, (2, 350), "the shared file once");
    assert_eq!(
        before.reclaimable_snapshots, 50,
        "the kept image still links it"
    );
    let report = prune(&store, &PruneOptions::default(), 0).unwrap();
    assert!(!store.snapshots().exists(&relinked));
    assert_eq!(report.bytes, 50);
    assert_eq!(usage(&store).unwrap().snapshots, (1, 300));
}
