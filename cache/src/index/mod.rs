//! The index: what the store knows about its blobs and snapshots, and the build cache.
//!
//! [`Index`] is the seam; [`SledIndex`] is the on-disk implementation and [`MemoryIndex`] an
//! in-memory one. Both pass the same test suite (`testsuite.rs`).
//!
//! On-disk trees carry a version in their name (`cachekeys-v1`, `layers-v1`, `tags-v1`,
//! `filehash-v1`). Bump a tree's version when the encoding of its keys or values changes in a
//! way an older strata would misread, or when the *meaning* of a key changes (for
//! `cachekeys`: anything that changes how the builder computes cache keys, so that an old key
//! can never be taken for a new one). Adding an optional field that old readers ignore and new
//! readers default (`#[serde(default)]`) needs no bump.
//!
//! For the cache trees (`cachekeys`, `filehash`) a bump just means a cold cache: the old tree is
//! ignored and `strata prune --all` drops it ([`SledIndex::drop_stale_trees`]). `tags` and
//! `layers` hold facts about images, not cache: bumping them needs a migration on open that
//! copies the old tree into the new one, or every image would be forgotten.

mod memory;
mod sled_index;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Result;

pub use memory::MemoryIndex;
pub use sled_index::SledIndex;

/// What a cached build step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The layer the step added, `None` for a step that changed nothing on disk.
    pub diff_id: Option<Digest>,
    /// When the step first ran (unix seconds): reused as the history `created` time so that a
    /// cached rebuild gives the same image.
    pub created: i64,
    /// When it was last used (unix seconds), for LRU pruning.
    pub last_used: i64,
}

/// A compressed (or not) form of a layer stored as a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// What the store knows about one layer (keyed by DiffID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub size: u64,
    /// Blobs holding this layer, by compression (`none`, `gzip`, `zstd`), created lazily.
    pub blobs: BTreeMap<String, BlobRef>,
    /// When the record was made (unix seconds).
    pub created: i64,
    /// The `SOURCE_DATE_EPOCH` the layer's tar was written with (mtimes clamped to it), so that
    /// regenerating the tar from the snapshot gives the same bytes.
    #[serde(default)]
    pub source_date_epoch: Option<i64>,
}

/// A remembered content digest of a context file, valid while its stat is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHashEntry {
    /// Device number.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size.
    pub size: u64,
    /// mtime in nanoseconds.
    pub mtime_ns: i64,
    /// ctime in nanoseconds.
    pub ctime_ns: i64,
    /// sha256 of the content.
    pub digest: Digest,
}

/// The index operations the builder, the exchange commands and GC need.
pub trait Index: Send + Sync {
    /// A cached step by its cache key.
    fn step(&self, key: &Digest) -> Result<Option<StepRecord>>;
    /// Records a step result.
    fn put_step(&self, key: &Digest, record: &StepRecord) -> Result<()>;
    /// Removes a step result.
    fn remove_step(&self, key: &Digest) -> Result<()>;
    /// All step results.
    fn steps(&self) -> Result<Vec<(Digest, StepRecord)>>;

    /// A layer record by DiffID.
    fn layer(&self, diff_id: &Digest) -> Result<Option<LayerRecord>>;
    /// Records (or replaces) a layer record.
    fn put_layer(&self, record: &LayerRecord) -> Result<()>;
    /// Removes a layer record.
    fn remove_layer(&self, diff_id: &Digest) -> Result<()>;
    /// All layer records.
    fn layers(&self) -> Result<Vec<LayerRecord>>;

    /// The manifest a `name:tag` points at.
    fn tag(&self, name: &str) -> Result<Option<Digest>>;
    /// Points `name:tag` at a manifest.
    fn put_tag(&self, name: &str, manifest: &Digest) -> Result<()>;
    /// Removes a tag; true if it existed.
    fn remove_tag(&self, name: &str) -> Result<bool>;
    /// All tags, sorted by name.
    fn tags(&self) -> Result<Vec<(String, Digest)>>;

    /// A remembered file digest by path.
    fn file_hash(&self, path: &[u8]) -> Result<Option<FileHashEntry>>;
    /// Remembers a file digest.
    fn put_file_hash(&self, path: &[u8], entry: &FileHashEntry) -> Result<()>;
    /// Number of remembered file digests.
    fn file_hash_count(&self) -> Result<usize>;
    /// Forgets every remembered file digest.
    fn clear_file_hashes(&self) -> Result<()>;

    /// Makes everything written so far durable.
    fn flush(&self) -> Result<()>;
}

#[cfg(test)]
mod testsuite;
