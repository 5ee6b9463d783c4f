//! Build cache export and import (`--cache-to`, `--cache-from`): sharing step results between
//! machines through an OCI layout directory or a registry.
//!
//! In the data flow this sits beside the solver: before a build, [`ImportedCache::open`] reads
//! the records of every `--cache-from`; the solver consults them when its own index misses and
//! fetches the layers a hit needs, lazily. After a build, [`export`] writes the steps that
//! `mode` selects to each `--cache-to`. The format ([`format`]) is strata's own: an OCI image
//! manifest whose config lists step records by cache key; BuildKit's caches cannot be read,
//! nor can BuildKit read strata's (the keys are computed differently).
//!
//! A cache that cannot be reached or read never fails a build: the caller warns and builds.
//!
//! ```no_run
//! # fn main() -> strata_oci::Result<()> {
//! use strata_oci::cache_exchange::{parse_cache_from, CacheBackend, ImportedCache, LocalCache};
//! let spec = parse_cache_from("type=local,src=/tmp/cache")?;
//! let backends: Vec<Box<dyn CacheBackend>> = vec![Box::new(LocalCache::new("/tmp/cache"))];
//! let imported = ImportedCache::open(backends, &|warning| eprintln!("WARNING: {warning}"));
//! println!("{} records from {}", imported.len(), spec.location);
//! # Ok(()) }
//! ```

mod export;
mod format;
mod import;
mod local;
mod registry;
mod spec;

use std::io::Write;
use std::path::Path;

use strata_cache::Digest;

use crate::error::Result;

pub use export::{export, BuiltStep, ExportSummary};
pub use import::{ImportedCache, ImportedStep};
pub use local::LocalCache;
pub use registry::RegistryCache;
pub use spec::{parse_cache_from, parse_cache_to, CacheFrom, CacheLocation, CacheMode, CacheTo};

/// Where an exported cache is kept: an OCI layout directory or a registry repository. The
/// seam between the cache format and its transports.
pub trait CacheBackend: Send + Sync {
    /// How messages name it (`local cache \`DIR\``, `registry cache \`REF\``).
    fn location(&self) -> String;
    /// The cache manifest's bytes (an error when there is none).
    fn manifest(&self) -> Result<Vec<u8>>;
    /// Copies a blob into `out`; returns its size. The caller checks the digest (and throws
    /// the bytes away when it does not match).
    fn get_blob(&self, digest: &Digest, out: &mut dyn Write) -> Result<u64>;
    /// Whether the cache already holds a blob.
    fn has_blob(&self, digest: &Digest, size: u64) -> Result<bool>;
    /// Sends a blob from a file (a verified blob of the store).
    fn put_blob(&self, digest: &Digest, size: u64, source: &Path) -> Result<()>;
    /// Writes the manifest, after every blob it names.
    fn put_manifest(&self, bytes: &[u8]) -> Result<()>;
}
