//! A cache in a registry repository (`--cache-to type=registry,ref=R`): the cache manifest
//! under the reference's tag, its config and layer blobs in the same repository. Blobs the
//! repository has are not sent again; the manifest is pushed last.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use strata_cache::Digest;

use super::CacheBackend;
use crate::error::{Error, Result};
use crate::image::manifest::OCI_MANIFEST;
use crate::registry::{BlobSource, Registry, Remote};

/// A registry repository holding a cache.
pub struct RegistryCache {
    registry: Arc<Registry>,
    remote: Remote,
    text: String,
}

impl RegistryCache {
    /// The cache at `reference` (docker's grammar; `latest` when no tag), through `registry`.
    pub fn new(registry: Arc<Registry>, reference: &str) -> Result<Self> {
        let remote = Remote::parse(reference).map_err(|e| Error::CacheTransfer {
            location: format!("registry cache `{reference}`"),
            source: Box::new(e),
        })?;
        Ok(RegistryCache {
            registry,
            remote,
            text: reference.to_string(),
        })
    }

    fn wrap(&self, error: Error) -> Error {
        Error::CacheTransfer {
            location: self.location(),
            source: Box::new(error),
        }
    }
}

impl CacheBackend for RegistryCache {
    fn location(&self) -> String {
        format!("registry cache `{}`", self.text)
    }

    fn manifest(&self) -> Result<Vec<u8>> {
        let fetched = self
            .registry
            .get_manifest(&self.remote)
            .map_err(|e| self.wrap(e))?;
        Ok(fetched.bytes)
    }

    fn get_blob(&self, digest: &Digest, out: &mut dyn Write) -> Result<u64> {
        self.registry
            .get_blob(&self.remote, digest, out)
            .map_err(|e| self.wrap(e))
    }

    fn has_blob(&self, digest: &Digest, _size: u64) -> Result<bool> {
        self.registry
            .has_blob(&self.remote, digest)
            .map_err(|e| self.wrap(e))
    }

    fn put_blob(&self, digest: &Digest, _size: u64, source: &Path) -> Result<()> {
        self.registry
            .put_blob(
                &self.remote,
                digest,
                &BlobSource::File(source.to_path_buf()),
            )
            .map_err(|e| self.wrap(e))
    }

    fn put_manifest(&self, bytes: &[u8]) -> Result<()> {
        self.registry
            .put_manifest(&self.remote, bytes, OCI_MANIFEST)
            .map(|_| ())
            .map_err(|e| self.wrap(e))
    }
}
