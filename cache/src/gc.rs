//! Garbage collection: what is in use, and reclaiming what is not.
//!
//! # Roots
//!
//! - **Tags.** A tag names a manifest blob. An image index (or docker manifest list) reaches the
//!   manifests it lists; a manifest reaches its config blob and its layer blobs; a config reaches
//!   the layers named by `rootfs.diff_ids`. A layer (by DiffID) reaches its snapshot, its layer
//!   record and the compressed blobs that record lists.
//! - **Cache entries.** A build-cache entry (cache key → step result) reaches the layer of its
//!   step, and from there the same things as above.
//!
//! - **Running containers.** A container a `strata run` is running reaches its image's layers.
//!   Stopped containers are not roots: `prune` deletes them (as `docker system prune`).
//!
//! Everything no root reaches is garbage: blobs (manifests and configs of untagged images,
//! compressed layers nobody uses, anything written by an interrupted process), snapshots, and
//! layer records. Cache entries are not garbage by themselves: `prune` decides which to drop.
//!
//! # What `prune` drops (as `docker builder prune`)
//!
//! - Always: cache entries whose snapshot is gone (they can never be hits again).
//! - Without `all`: cache entries whose layer no tagged image uses, least recently used first,
//!   only those unused for `older_than` if given, and with `keep_storage` only until the bytes
//!   held by cache alone fit in it.
//! - With `all`: cache entries whose layer a tagged image uses as well (the layer stays, since
//!   the image needs it, but the next build will not find the step cached), the file-hash index
//!   (rebuilt by hashing the context once), and index trees an older strata left behind.
//!
//! Then it sweeps the garbage. Tagged images are never touched: untag them (`rmi`) first.
//! Sizes are apparent file sizes: a blob's length, and a snapshot's file lengths with hard
//! links counted once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::snapshots::{tree_files, LinkTally};
use crate::store::Store;

/// What `prune` may remove.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Also drop cache entries of layers tagged images use, the file-hash index, stale index
    /// trees, the `RUN --mount=type=cache` directories and the registry's blob-source record.
    pub all: bool,
    /// Keep this many bytes of cache-only storage (least recently used entries go first).
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
    /// Bytes freed (blob sizes plus snapshot sizes, cache mounts with `all`).
    pub bytes: u64,
    /// Stopped containers deleted.
    pub containers: usize,
    /// `RUN --mount=type=cache` directories deleted (`all` only).
    pub cache_mounts: usize,
}

/// Space used, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Blobs: count and bytes.
    pub blobs: (usize, u64),
    /// Snapshots: count and bytes.
    pub snapshots: (usize, u64),
    /// The index directory's bytes, with the registry's blob-source record.
    pub index_bytes: u64,
    /// Cache entries.
    pub cache_entries: usize,
    /// Bytes (of the blobs and snapshots above) that only the build cache holds on to.
    pub cache_bytes: u64,
    /// Tags.
    pub tags: usize,
    /// Kept containers: count and bytes of their writable layers.
    pub containers: (usize, u64),
    /// Bytes of stopped containers' writable layers (`prune` deletes them).
    pub reclaimable_containers: u64,
    /// `RUN --mount=type=cache` directories: count and bytes (`prune --all` deletes them).
    pub cache_mounts: (usize, u64),
    /// Bytes of blobs that `prune` would free.
    pub reclaimable_blobs: u64,
    /// Bytes of snapshots that `prune` would free.
    pub reclaimable_snapshots: u64,
    /// Bytes `prune` (with or without `all`: the difference is in cache entries, not bytes)
    /// would free: everything no tagged image reaches.
    pub reclaimable: u64,
}

/// What a set of roots reaches.
#[derive(Debug, Default)]
struct Reach {
    blobs: BTreeSet<Digest>,
    layers: BTreeSet<Digest>,
}

#[derive(Clone, Copy)]
enum Kind {
    /// A manifest or an image index: which one is told by the fields it has.
    Manifest,
    Config,
}

/// Follows tags through manifests and configs. A missing or corrupt manifest or config is
/// skipped with a warning (its image is broken either way); any other failure to read one
/// stops GC, so that an I/O error never turns into deleting an image's layers.
fn image_roots(store: &Store) -> Result<Reach> {
    let mut reach = Reach::default();
    let mut pending: Vec<(Digest, Kind)> = store
        .index()
        .tags()?
        .into_iter()
        .map(|(_, d)| (d, Kind::Manifest))
        .collect();
    let digest_at = |value: &Value| value["digest"].as_str().and_then(|s| s.parse().ok());
    while let Some((digest, kind)) = pending.pop() {
        if !reach.blobs.insert(digest) {
            continue;
        }
        let bytes = match store.blobs().read(&digest) {
            Ok(bytes) => bytes,
            Err(e @ (Error::NotFound(_) | Error::DigestMismatch { .. })) => {
                tracing::warn!(%digest, error = %e, "an image's manifest or config is unusable");
                continue;
            }
            Err(e) => return Err(e),
        };
        let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
            tracing::warn!(%digest, "an image's manifest or config is not JSON");
            continue;
        };
        match kind {
            Kind::Manifest => {
                for item in json["manifests"].as_array().into_iter().flatten() {
                    pending.extend(digest_at(item).map(|d| (d, Kind::Manifest)));
                }
                // Layer blobs are leaves: never read them here.
                for item in json["layers"].as_array().into_iter().flatten() {
                    reach.blobs.extend(digest_at(item));
                }
                pending.extend(digest_at(&json["config"]).map(|d| (d, Kind::Config)));
            }
            Kind::Config => {
                for item in json["rootfs"]["diff_ids"].as_array().into_iter().flatten() {
                    reach
                        .layers
                        .extend(item.as_str().and_then(|s| s.parse::<Digest>().ok()));
                }
            }
        }
    }
    let layers: Vec<Digest> = reach.layers.iter().copied().collect();
    add_layers(store, &mut reach, layers)?;
    Ok(reach)
}

/// Adds layers (and the blobs their records list) to what is reachable.
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

/// Bytes a layer holds on disk: its snapshot and the blobs its record lists (those that are
/// present and not reachable otherwise), memoised because GC asks repeatedly.
struct Sizes<'a> {
    store: &'a Store,
    images: &'a Reach,
    layers: BTreeMap<Digest, u64>,
    /// Snapshot sizes already measured (`usage` walks every snapshot once up front).
    snapshots: BTreeMap<Digest, u64>,
}

impl Sizes<'_> {
    fn snapshot(&self, diff_id: &Digest) -> Result<u64> {
        if let Some(size) = self.snapshots.get(diff_id) {
            return Ok(*size);
        }
        match self.store.snapshots().disk_size(diff_id) {
            Err(Error::NotFound(_)) => Ok(0),
            other => other,
        }
    }

    fn layer(&mut self, diff_id: &Digest) -> Result<u64> {
        if let Some(size) = self.layers.get(diff_id) {
            return Ok(*size);
        }
        let mut size = self.snapshot(diff_id)?;
        if let Some(record) = self.store.index().layer(diff_id)? {
            for blob in record.blobs.values() {
                if !self.images.blobs.contains(&blob.digest) {
                    size += self.store.blobs().size(&blob.digest).unwrap_or(0);
                }
            }
        }
        self.layers.insert(*diff_id, size);
        Ok(size)
    }
}

/// Drops cache entries as `options` says, then deletes everything unreachable. `now` is the
/// current time in unix seconds (a parameter so that tests control age).
pub fn prune(store: &Store, options: &PruneOptions, now: i64) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    for container in store.containers().remove_stopped()? {
        tracing::debug!(name = %container.name, "removed a stopped container");
        report.containers += 1;
    }
    let images = image_roots(store)?;
    let mut sizes = Sizes {
        store,
        images: &images,
        layers: BTreeMap::new(),
        snapshots: BTreeMap::new(),
    };
    let mut steps = store.index().steps()?;
    // Least recently used first.
    steps.sort_by_key(|(_, record)| record.last_used);
    let mut users: BTreeMap<Digest, usize> = BTreeMap::new();
    for (_, record) in &steps {
        if let Some(d) = record.diff_id {
            *users.entry(d).or_default() += 1;
        }
    }
    let mut cache_bytes = 0;
    for diff_id in users.keys() {
        if !images.layers.contains(diff_id) {
            cache_bytes += sizes.layer(diff_id)?;
        }
    }
    for (key, record) in &steps {
        // Dead entries (snapshot gone) always go; the rest as the options say.
        let dead = record
            .diff_id
            .is_some_and(|d| !store.snapshots().exists(&d));
        let used_by_image = record.diff_id.is_some_and(|d| images.layers.contains(&d));
        let droppable = (options.all || !used_by_image)
            && options
                .older_than
                .is_none_or(|age| now - record.last_used >= age)
            // Once the cache fits, it keeps fitting: every later (more recent) entry stays.
            && options.keep_storage.is_none_or(|keep| cache_bytes > keep);
        if !dead && !droppable {
            continue;
        }
        store.index().remove_step(key)?;
        report.cache_entries += 1;
        if let Some(diff_id) = record.diff_id {
            let left = users.get_mut(&diff_id).expect("counted above");
            *left -= 1;
            if *left == 0 && !images.layers.contains(&diff_id) {
                cache_bytes = cache_bytes.saturating_sub(sizes.layer(&diff_id)?);
            }
        }
    }
    if options.all {
        store.index().clear_file_hashes()?;
        store.index().clear_copy_records()?;
        for tree in store.sled().drop_stale_trees()? {
            tracing::info!(tree, "dropped an index tree an older strata wrote");
        }
        // No build runs meanwhile (the store is locked), so no cache mount is in use.
        let (count, bytes) = remove_cache_mounts(store)?;
        report.cache_mounts = count;
        report.bytes += bytes;
        let sources = store.blob_sources_path();
        match fs::remove_file(&sources) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&sources, e)),
        }
    }
    let mut reach = images;
    let cached: Vec<Digest> = store
        .index()
        .steps()?
        .into_iter()
        .filter_map(|(_, r)| r.diff_id)
        .collect();
    add_layers(store, &mut reach, cached)?;
    add_layers(store, &mut reach, store.containers().running_layers()?)?;
    for record in store.index().layers()? {
        if !reach.layers.contains(&record.diff_id) {
            store.index().remove_layer(&record.diff_id)?;
        }
    }
    // The index forgets before files go: killed mid-sweep, no record points at a deleted
    // snapshot, and what is left on disk is garbage for the next prune.
    store.index().flush()?;
    // Freed bytes count a file hard-linked from a kept snapshot as not freed.
    let mut removed = LinkTally::default();
    for diff_id in store.snapshots().list()? {
        if !reach.layers.contains(&diff_id) {
            // Only the report reads the sizes: a tree that cannot be measured still goes.
            let _ = removed.add_tree(&store.snapshots().path(&diff_id));
            store.snapshots().remove(&diff_id)?;
            report.snapshots += 1;
        }
    }
    report.bytes += removed.freed();
    for (digest, size) in store.blobs().list()? {
        if !reach.blobs.contains(&digest) {
            store.blobs().remove(&digest)?;
            report.blobs += 1;
            report.bytes += size;
        }
    }
    Ok(report)
}

/// Deletes every `RUN --mount=type=cache` directory; returns how many went and their bytes.
fn remove_cache_mounts(store: &Store) -> Result<(usize, u64)> {
    let dir = store.cache_mounts_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let (mut count, mut bytes) = (0, 0);
    for entry in entries {
        let path = entry.map_err(|e| Error::io(&dir, e))?.path();
        // Only the report reads the size: a tree that cannot be measured still goes.
        bytes += crate::snapshots::tree_size(&path).unwrap_or(0);
        crate::scratch::remove_tree(&path).map_err(|e| Error::io(&path, e))?;
        count += 1;
    }
    Ok((count, bytes))
}

/// Measures what the store holds and what `prune` could free.
pub fn usage(store: &Store) -> Result<Usage> {
    let mut usage = Usage::default();
    let images = image_roots(store)?;
    let mut sizes = Sizes {
        store,
        images: &images,
        layers: BTreeMap::new(),
        snapshots: BTreeMap::new(),
    };
    let blobs = store.blobs().list()?;
    usage.blobs = (blobs.len(), blobs.iter().map(|(_, s)| s).sum());
    for (digest, size) in &blobs {
        if !images.blobs.contains(digest) {
            usage.reclaimable_blobs += size;
        }
    }
    let snapshots = store.snapshots().list()?;
    // A file hard-linked between snapshots (COPY reuse) is counted once, and as reclaimable
    // only if every link is in a snapshot prune would remove.
    let (mut all, mut reclaimable) = (LinkTally::default(), LinkTally::default());
    for diff_id in &snapshots {
        let files = tree_files(&store.snapshots().path(diff_id))?;
        let mut own = LinkTally::default();
        own.add_files(&files);
        sizes.snapshots.insert(*diff_id, own.total());
        all.add_files(&files);
        if !images.layers.contains(diff_id) {
            reclaimable.add_files(&files);
        }
    }
    usage.reclaimable_snapshots = reclaimable.freed();
    usage.snapshots = (snapshots.len(), all.total());
    let steps = store.index().steps()?;
    usage.cache_entries = steps.len();
    let cached: BTreeSet<Digest> = steps
        .iter()
        .filter_map(|(_, r)| r.diff_id)
        .filter(|d| !images.layers.contains(d))
        .collect();
    for diff_id in &cached {
        usage.cache_bytes += sizes.layer(diff_id)?;
    }
    usage.index_bytes = crate::snapshots::tree_size(&store.root().join("index"))?
        + fs::metadata(store.blob_sources_path()).map_or(0, |m| m.len());
    usage.tags = store.index().tags()?.len();
    for container in store.containers().list()? {
        let bytes = crate::snapshots::tree_size(&store.containers().path(&container.id))?;
        usage.containers.0 += 1;
        usage.containers.1 += bytes;
        if !store.containers().is_running(&container.id) {
            usage.reclaimable_containers += bytes;
        }
    }
    let mounts = store.cache_mounts_dir();
    match fs::read_dir(&mounts) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&mounts, e))?;
                usage.cache_mounts.0 += 1;
                usage.cache_mounts.1 += crate::snapshots::tree_size(&entry.path())?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&mounts, e)),
    }
    usage.reclaimable =
        usage.reclaimable_blobs + usage.reclaimable_snapshots + usage.reclaimable_containers;
    Ok(usage)
}

#[cfg(test)]
mod tests;
