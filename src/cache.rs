//! The transports behind `--cache-to` / `--cache-from`: a cache location becomes a backend.
//! One registry client serves every registry cache of a build.

use std::sync::{Arc, OnceLock};

use strata_builder::cache_exchange::{CacheBackend, CacheLocation, LocalCache, RegistryCache};
use strata_builder::registry::{Registry, RegistryOptions};

/// Makes backends, creating the registry client on first use.
#[derive(Default)]
pub struct Backends {
    registry: OnceLock<Arc<Registry>>,
}

impl Backends {
    /// The backend for a cache location.
    pub fn backend(
        &self,
        location: &CacheLocation,
    ) -> strata_builder::Result<Box<dyn CacheBackend>> {
        match location {
            CacheLocation::Local(dir) => Ok(Box::new(LocalCache::new(dir))),
            CacheLocation::Registry(reference) => {
                let registry = match self.registry.get() {
                    Some(registry) => registry.clone(),
                    None => {
                        let registry = Arc::new(Registry::new(RegistryOptions::default())?);
                        self.registry.get_or_init(|| registry).clone()
                    }
                };
                Ok(Box::new(RegistryCache::new(registry, reference)?))
            }
        }
    }
}
