//! The transports behind `--cache-to` / `--cache-from`: a cache location becomes a backend.
//! Registry caches share the build's registry client (insecure registries, credentials).

use std::sync::Arc;

use strata_oci::cache_exchange::{CacheBackend, CacheLocation, LocalCache, RegistryCache};
use strata_oci::registry::Registry;

/// Makes backends for one build.
pub struct Backends {
    registry: Arc<Registry>,
}

impl Backends {
    /// Backends whose registry caches go through `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Backends { registry }
    }

    /// The backend for a cache location.
    pub fn backend(&self, location: &CacheLocation) -> strata_oci::Result<Box<dyn CacheBackend>> {
        match location {
            CacheLocation::Local(dir) => Ok(Box::new(LocalCache::new(dir))),
            CacheLocation::Registry(reference) => Ok(Box::new(RegistryCache::new(
                self.registry.clone(),
                reference,
            )?)),
        }
    }
}
