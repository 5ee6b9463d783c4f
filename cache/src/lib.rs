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
//!   tmp/                 work in progress; emptied on open
//! ```
//!
//! The crate knows nothing about Dockerfiles; the builder and the CLI give meaning to what it
//! stores. In the data flow it sits under both: the builder asks it for cached steps and
//! installs new snapshots; save/load/push/pull move its blobs.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let store = strata_cache::Store::open(dir.path(), &Default::default()).unwrap();
//! let digest = store.blobs().put(b"hello").unwrap();
//! assert_eq!(store.blobs().read(&digest).unwrap(), b"hello");
//! ```
#![deny(missing_docs)]

mod blobs;
mod digest;
mod error;
pub mod gc;
pub mod index;
mod lock;
mod scratch;
mod snapshots;
mod store;

pub use blobs::{BlobReader, BlobWriter, Blobs};
pub use digest::{Digest, Hasher};
pub use error::{Error, Result};
pub use index::{BlobRef, FileHashEntry, Index, LayerRecord, MemoryIndex, SledIndex, StepRecord};
pub use lock::parse_timeout;
pub use scratch::{remove_tree, ScratchDir};
pub use snapshots::Snapshots;
pub use store::{OpenOptions, Store};

/// Seconds since the epoch, as records store them.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
