//! strata's content-addressed store: blobs, snapshots, the sled index, the root lock and GC.
//!
//! Everything strata keeps lives under one root directory:
//!
//! ```text
//! root/
//!   lock                 flock: one strata process at a time
//!   blobs/sha256/<hex>   manifests, configs, compressed layers (verified, renamed into place)
//!   snapshots/<hex>/     unpacked layers named by DiffID (overlay lower dirs)
//!   index/               sled: cache keys, layer records, tags, file hashes
//!   containers-v1/<id>/  kept containers of `strata run`: record and writable layer
//!   cache-mounts/<id>/   `RUN --mount=type=cache` directories, filled by the builder
//!   registry/blob-sources.json  where the registry client saw each blob (a push mounts it)
//!   tmp/                 work in progress (blob temp files, scratch dirs); emptied on open
//! ```
//!
//! The crate knows nothing about Dockerfiles; the builder and the CLI give meaning to what it
//! stores. In the data flow it sits under both: the builder asks it for cached steps and
//! installs new snapshots; save/load move its blobs; `strata prune`/`du` run [`gc`].
//!
//! # The pieces
//!
//! - [`Store::open`] makes the root private to its owner (0700, as every directory in it:
//!   snapshots hold setuid files and device nodes as builds made them), takes the root's lock
//!   (waiting, with a timeout and one call to [`OpenOptions::on_wait`], if another strata holds
//!   it), empties `tmp/`, opens the index (removing what a full disk left sled unable to read;
//!   [`Store::repairs`] says what it repaired).
//! - [`Blobs`]: [`Blobs::writer`] streams a blob in, hashing as it goes; [`BlobWriter::commit`]
//!   fsyncs, checks the expected digest and renames it into place. [`Blobs::reader`] streams
//!   one out and fails at the end if it does not match its digest.
//! - [`Snapshots`]: [`Snapshots::scratch`] gives a directory on the store's filesystem (for an
//!   overlay upper dir, or to unpack a layer tar into); [`Snapshots::install`] renames it to
//!   `snapshots/<DiffID>` — no copy, so whiteout devices and xattrs stay as they are.
//! - [`Index`] (sled: [`SledIndex`]; in memory: [`MemoryIndex`]): cache key → [`StepRecord`],
//!   DiffID → [`LayerRecord`] (size and compressed blobs), tag → manifest digest, context path
//!   → [`FileHashEntry`].
//! - [`Digest`] names everything (`sha256:<hex>`, strictly parsed).
//!
//! # Crash safety
//!
//! Data is written before the records that name it: a blob is complete before its name
//! exists, a snapshot before its DiffID dir exists, and callers write index records after
//! both. A process killed at any point leaves at worst unnamed temp files (removed at the next
//! open) and unreferenced blobs or snapshots (removed by the next prune); sled may lose the
//! newest unflushed records ([`Index::flush`]) but never corrupts one.
//!
//! ```
//! use std::io::Write;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = strata_cache::Store::open(dir.path(), &Default::default()).unwrap();
//! let digest = store.blobs().put(b"hello").unwrap();
//! assert_eq!(store.blobs().read(&digest).unwrap(), b"hello");
//!
//! // A layer: prepare a directory, then install it under its DiffID.
//! let scratch = store.snapshots().scratch("layer").unwrap();
//! std::fs::write(scratch.path().join("file"), "content").unwrap();
//! let diff_id = strata_cache::Digest::of(b"the layer tar");
//! let path = store.snapshots().install(scratch, &diff_id).unwrap();
//! assert!(path.join("file").is_file());
//!
//! // Streaming, with the digest the caller expects (e.g. from a manifest).
//! let mut writer = store.blobs().writer().unwrap();
//! writer.write_all(b"hello").unwrap();
//! assert_eq!(writer.commit(Some(digest)).unwrap(), (digest, 5));
//! ```
#![deny(missing_docs)]

mod blobs;
pub mod containers;
mod digest;
mod error;
pub mod gc;
pub mod index;
mod lock;
mod private;
mod scratch;
mod snapshots;
mod store;

pub use blobs::{BlobReader, BlobWriter, Blobs};
pub use containers::{ContainerRecord, Containers, RunningGuard};
pub use digest::{Digest, Hasher};
pub use error::{Error, Result};
pub use index::{
    BlobRef, CopyRecord, FileHashEntry, FileHashTable, Index, LayerRecord, MemoryIndex, SledIndex,
    StepRecord,
};
pub use lock::parse_timeout;
pub use scratch::{remove_tree, ScratchDir};
pub use snapshots::Snapshots;
pub use store::{OpenOptions, Store, BLOB_SOURCES_FILE, CACHE_MOUNTS_DIR, TMP_DIR};

/// Seconds since the epoch, as records store them.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
