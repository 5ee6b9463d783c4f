//! Garbage collection: what is in use, and reclaiming what is not.
//!
//! Roots: every tag (→ manifest → config and layer blobs; config → layer DiffIDs → snapshots and
//! layer records → their compressed blobs) and every remaining cache entry (→ its layer).
//! Everything else — blobs, snapshots and layer records no root reaches — is garbage.
//!
//! `prune` first drops cache entries: without `all`, only entries whose layer no tagged image
//! uses, filtered by age (`older_than`) and, with `keep_storage`, least recently used first until
//! what remains fits; with `all`, every cache entry. Then it sweeps the garbage. Tagged images
//! are never touched: untag them with `rmi` first.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::digest::Digest;
use crate::error::Result;
use crate::store::Store;

/// What `prune` may remove.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Drop every cache entry, not only those no image uses.
    pub all: bool,
    /// Keep this many bytes of cache (LRU entries go first).
    pub keep_storage: Option<u64>,
    /// Only drop entries not used for at least this many seconds.
    pub older_than: Option<i64>,
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Cache entries dropped.
    pub cache_entries: usize,
    /// Snapshots deleted.
    pub snapshots: usize,
    /// Blobs deleted.
    pub blobs: usize,
    /// Bytes freed (blob sizes plus layer sizes of deleted snapshots).
    pub bytes: u64,
}

/// Space used, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Blobs: count and bytes.
    pub blobs: (usize, u64),
    /// Snapshots: count and bytes (the layer's uncompressed size).
    pub snapshots: (usize, u64),
    /// The index directory's bytes.
    pub index_bytes: u64,
    /// Cache entries.
    pub cache_entries: usize,
    /// Tags.
    pub tags: usize,
    /// Bytes `prune --all` would free.
    pub reclaimable: u64,
}

/// What tagged images reach.
#[derive(Debug, Default)]
struct Reach {
    blobs: BTreeSet<Digest>,
    layers: BTreeSet<Digest>,
}

fn image_roots(store: &Store) -> Result<Reach> {
    let mut reach = Reach::default();
    let mut pending: Vec<Digest> = store.index().tags()?.into_iter().map(|(_, d)| d).collect();
    while let Some(digest) = pending.pop() {
        if !reach.blobs.insert(digest) {
            continue;
        }
        let Ok(bytes) = store.blobs().read(&digest) else {
            continue;
        };
        let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        // An image index lists manifests; a manifest names a config and layers; a config
        // lists DiffIDs.
        for key in ["manifests", "layers"] {
            for item in json[key].as_array().into_iter().flatten() {
                if let Some(Ok(d)) = item["digest"].as_str().map(str::parse::<Digest>) {
                    pending.push(d);
                }
            }
        }
        if let Some(Ok(d)) = json["config"]["digest"].as_str().map(str::parse::<Digest>) {
            pending.push(d);
        }
        for item in json["rootfs"]["diff_ids"].as_array().into_iter().flatten() {
            if let Some(Ok(d)) = item.as_str().map(str::parse::<Digest>) {
                reach.layers.insert(d);
            }
        }
    }
    Ok(reach)
}

/// Adds layers (and their blobs) to what is reachable.
fn add_layers(
    store: &Store,
    reach: &mut Reach,
    layers: impl IntoIterator<Item = Digest>,
) -> Result<()> {
    for diff_id in layers {
        reach.layers.insert(diff_id);
        if let Some(record) = store.index().layer(&diff_id)? {
            reach.blobs.extend(record.blobs.values().map(|b| b.digest));
        }
    }
    Ok(())
}

/// Drops cache entries as `options` says, then deletes everything unreachable.
pub fn prune(store: &Store, options: &PruneOptions, now: i64) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    let images = image_roots(store)?;
    let mut steps = store.index().steps()?;
    // Least recently used first.
    steps.sort_by_key(|(_, record)| record.last_used);
    let layer_size = |diff_id: &Option<Digest>| -> u64 {
        diff_id
            .and_then(|d| store.index().layer(&d).ok().flatten())
            .map_or(0, |r| r.size)
    };
    let mut cache_bytes: u64 = steps
        .iter()
        .filter(|(_, r)| r.diff_id.is_some_and(|d| !images.layers.contains(&d)))
        .map(|(_, r)| layer_size(&r.diff_id))
        .sum();
    for (key, record) in &steps {
        let used_by_image = record.diff_id.is_some_and(|d| images.layers.contains(&d));
        if used_by_image && !options.all {
            continue;
        }
        if let Some(age) = options.older_than {
            if now - record.last_used < age {
                continue;
            }
        }
        if let Some(keep) = options.keep_storage {
            if cache_bytes <= keep {
                break;
            }
        }
        store.index().remove_step(key)?;
        if !used_by_image {
            cache_bytes = cache_bytes.saturating_sub(layer_size(&record.diff_id));
        }
        report.cache_entries += 1;
    }
    let mut reach = images;
    let image_layers: Vec<Digest> = reach.layers.iter().copied().collect();
    add_layers(store, &mut reach, image_layers)?;
    let cached: Vec<Digest> = store
        .index()
        .steps()?
        .into_iter()
        .filter_map(|(_, r)| r.diff_id)
        .collect();
    add_layers(store, &mut reach, cached)?;
    for record in store.index().layers()? {
        if !reach.layers.contains(&record.diff_id) {
            store.index().remove_layer(&record.diff_id)?;
        }
    }
    for diff_id in store.snapshots().list()? {
        if !reach.layers.contains(&diff_id) {
            let size = store.index().layer(&diff_id)?.map_or(0, |r| r.size);
            store.snapshots().remove(&diff_id)?;
            report.snapshots += 1;
            report.bytes += size;
        }
    }
    for (digest, size) in store.blobs().list()? {
        if !reach.blobs.contains(&digest) {
            store.blobs().remove(&digest)?;
            report.blobs += 1;
            report.bytes += size;
        }
    }
    store.index().flush()?;
    Ok(report)
}

/// Measures what the store holds and what `prune --all` could free.
pub fn usage(store: &Store) -> Result<Usage> {
    let mut usage = Usage::default();
    let blobs = store.blobs().list()?;
    usage.blobs = (blobs.len(), blobs.iter().map(|(_, s)| s).sum());
    let snapshots = store.snapshots().list()?;
    let mut snapshot_bytes = 0;
    for diff_id in &snapshots {
        snapshot_bytes += store.index().layer(diff_id)?.map_or(0, |r| r.size);
    }
    usage.snapshots = (snapshots.len(), snapshot_bytes);
    usage.index_bytes = dir_size(&store.root().join("index"));
    usage.cache_entries = store.index().steps()?.len();
    usage.tags = store.index().tags()?.len();
    let mut reach = image_roots(store)?;
    let image_layers: Vec<Digest> = reach.layers.iter().copied().collect();
    add_layers(store, &mut reach, image_layers)?;
    for diff_id in &snapshots {
        if !reach.layers.contains(diff_id) {
            usage.reclaimable += store.index().layer(diff_id)?.map_or(0, |r| r.size);
        }
    }
    for (digest, size) in &blobs {
        if !reach.blobs.contains(digest) {
            usage.reclaimable += size;
        }
    }
    Ok(usage)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
