//! Where blobs were seen in registries (`registry/repository`), kept where the store says
//! (`Store::blob_sources_path`, `<root>/registry/blob-sources.json`): a push mounts a blob from another repository of the
//! same registry instead of uploading it again. Best effort: a missing or broken file is
//! simply empty.

use std::collections::BTreeMap;
use std::path::PathBuf;

use strata_cache::{Digest, Store};

/// Locations kept per blob.
const KEEP: usize = 8;

/// The remembered locations.
#[derive(Debug, Default)]
pub(super) struct BlobSources {
    path: PathBuf,
    map: BTreeMap<String, Vec<String>>,
    dirty: bool,
}

impl BlobSources {
    /// Reads the store's record.
    pub(super) fn open(store: &Store) -> BlobSources {
        let path = store.blob_sources_path();
        let map = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        BlobSources {
            path,
            map,
            dirty: false,
        }
    }

    /// Locations (`registry/repository`) a blob was seen at, most recent first.
    pub(super) fn locations(&self, digest: &Digest) -> &[String] {
        self.map.get(&digest.to_string()).map_or(&[], Vec::as_slice)
    }

    /// Notes that a blob is at a location.
    pub(super) fn add(&mut self, digest: &Digest, location: &str) {
        let list = self.map.entry(digest.to_string()).or_default();
        if list.first().map(String::as_str) == Some(location) {
            return;
        }
        list.retain(|l| l != location);
        list.insert(0, location.to_string());
        list.truncate(KEEP);
        self.dirty = true;
    }

    /// Writes the record back (temp file + rename); errors are ignored.
    pub(super) fn save(&mut self) {
        if !self.dirty {
            return;
        }
        let Some(dir) = self.path.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(&self.map) else {
            return;
        };
        let tmp = self.path.with_extension("json.tmp");
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &self.path).is_ok() {
            self.dirty = false;
        }
    }
}
