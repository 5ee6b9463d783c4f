//! The transports behind `--cache-to` / `--cache-from`: a cache location becomes a backend.

use strata_builder::cache_exchange::{CacheBackend, CacheLocation, LocalCache};

/// The backend for a cache location.
pub fn backend(location: &CacheLocation) -> strata_builder::Result<Box<dyn CacheBackend>> {
    match location {
        CacheLocation::Local(dir) => Ok(Box::new(LocalCache::new(dir))),
        CacheLocation::Registry(reference) => Err(strata_builder::Error::Cache {
            location: location.to_string(),
            reason: format!("registry caches need the registry client (`{reference}`)"),
        }),
    }
}
