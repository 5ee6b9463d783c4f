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

mod file_table;
mod memory;
mod sled_index;
mod sled_repair;
mod sled_start;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Result;

pub use file_table::FileHashTable;
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

/// What one COPY from the build context last wrote, so that the next run of the same step (same
/// parent, same definition, some sources edited) can hard-link the files whose content did not
/// change from the earlier snapshot instead of copying and rewriting them. Keyed by the step's
/// cache key *without* the content part; the snapshot is immutable, so the digests stay true
/// for as long as it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRecord {
    /// The layer that copy made (its snapshot holds the files).
    pub diff_id: Digest,
    /// Regular files of that layer: path relative to the snapshot root → sha256 of the content.
    pub files: Vec<(Vec<u8>, Digest)>,
}

impl CopyRecord {
    /// The compact binary form stored in the index: diff_id, then per file a little-endian
    /// u32 path length, the path, and the digest.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.files.iter().map(|(p, _)| 36 + p.len()).sum();
        let mut out = Vec::with_capacity(32 + size);
        out.extend_from_slice(self.diff_id.bytes());
        for (path, digest) in &self.files {
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            out.extend_from_slice(digest.bytes());
        }
        out
    }

    /// [`CopyRecord::encode`] followed by the sha256 of those bytes, for storage outside a
    /// checksummed database.
    pub fn encode_checked(&self) -> Vec<u8> {
        let mut out = self.encode();
        let sum = Digest::of(&out);
        out.extend_from_slice(sum.bytes());
        out
    }

    /// Reads [`CopyRecord::encode_checked`]'s form; `None` if the checksum does not match or
    /// the record is malformed.
    pub fn decode_checked(bytes: &[u8]) -> Option<CopyRecord> {
        let body = bytes.get(..bytes.len().checked_sub(32)?)?;
        if Digest::of(body).bytes() != &bytes[body.len()..] {
            return None;
        }
        CopyRecord::decode(body)
    }

    /// Reads [`CopyRecord::encode`]'s form; `None` if it is malformed.
    pub fn decode(bytes: &[u8]) -> Option<CopyRecord> {
        let diff_id = Digest::from_bytes(bytes.get(..32)?.try_into().ok()?);
        let mut rest = &bytes[32..];
        let mut files = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let path = rest.get(4..4 + len)?.to_vec();
            let digest = Digest::from_bytes(rest.get(4 + len..36 + len)?.try_into().ok()?);
            files.push((path, digest));
            rest = &rest[36 + len..];
        }
        Some(CopyRecord { diff_id, files })
    }
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
    /// The remembered digests of the files below a context root (an absolute path), keyed
    /// by path relative to it; empty when none are remembered or they are unreadable.
    fn file_hash_table(&self, root: &[u8]) -> Result<FileHashTable>;
    /// Replaces the table of a context root, atomically.
    fn put_file_hash_table(&self, root: &[u8], table: &FileHashTable) -> Result<()>;
    /// Number of remembered file digests (per-path records and every table's entries).
    fn file_hash_count(&self) -> Result<usize>;
    /// Forgets every remembered file digest, per-path records and tables alike.
    fn clear_file_hashes(&self) -> Result<()>;

    /// What the copy step with this lineage key last wrote.
    fn copy_record(&self, lineage: &Digest) -> Result<Option<CopyRecord>>;
    /// Remembers what a copy step wrote (replacing the previous record).
    fn put_copy_record(&self, lineage: &Digest, record: &CopyRecord) -> Result<()>;
    /// Forgets every copy record.
    fn clear_copy_records(&self) -> Result<()>;

    /// Makes everything written so far durable.
    fn flush(&self) -> Result<()>;
}

#[cfg(test)]
mod testsuite;
