//! `--cache-from`: the step records of exported caches, consulted when the local index
//! misses, and the lazy fetch of the layers a hit needs.
//!
//! Opening a cache reads only its manifest and config (small). Layer blobs are fetched when a
//! layer is first needed on disk: as the parent of a step that misses, as the source of a
//! `COPY --from`, or in the final image. A chain of hits in an intermediate stage whose result
//! is never read fetches nothing. Every fetched blob is checked against its digest and its
//! DiffID before it is stored; a cache that fails is marked broken and the builder falls back
//! to building (see `solve`).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Write};
use std::sync::Mutex;

use strata_cache::{BlobRef, Digest, LayerRecord, Store};

use super::format::{self, CacheContents};
use super::CacheBackend;
use crate::error::{Error, Result};
use crate::layer::extract_layer;
use crate::registry::MAX_MANIFEST_SIZE;

/// What an imported record says a step produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedStep {
    /// The layer it added, if any.
    pub diff_id: Option<Digest>,
    /// When it first ran (the history `created`).
    pub created: i64,
}

#[derive(Debug, Clone)]
struct ImportedLayer {
    backend: usize,
    blob: Digest,
    blob_size: u64,
    size: u64,
}

/// The records of every `--cache-from` that could be read.
#[derive(Default)]
pub struct ImportedCache {
    backends: Vec<Box<dyn CacheBackend>>,
    steps: HashMap<Digest, ImportedStep>,
    layers: HashMap<Digest, ImportedLayer>,
    /// Why the caches stopped being used, once a fetch failed.
    broken: Mutex<Option<String>>,
    /// One fetch at a time: parallel stages needing the same layer fetch it once.
    fetching: Mutex<()>,
}

impl ImportedCache {
    /// Reads each cache's manifest and config. A cache that cannot be reached or read is
    /// left out with a warning (the build goes on without it).
    pub fn open(backends: Vec<Box<dyn CacheBackend>>, warn: &dyn Fn(&str)) -> Self {
        let mut imported = ImportedCache::default();
        for backend in backends {
            match read_contents(backend.as_ref()) {
                Ok(Some(contents)) => {
                    let index = imported.backends.len();
                    imported.add(index, contents);
                    imported.backends.push(backend);
                }
                Ok(None) => warn(&format!(
                    "{}: written by a strata with other cache keys; not used",
                    backend.location()
                )),
                Err(e) => warn(&format!("importing cache failed, building without it: {e}")),
            }
        }
        imported
    }

    fn add(&mut self, backend: usize, contents: CacheContents) {
        let mut diff_ids = Vec::new();
        for (layer, blob) in contents.config.layers.iter().zip(&contents.blobs) {
            diff_ids.push(layer.diff_id);
            self.layers.entry(layer.diff_id).or_insert(ImportedLayer {
                backend,
                blob: blob.digest,
                blob_size: blob.size,
                size: layer.size,
            });
        }
        for step in contents.config.steps {
            // An earlier --cache-from wins, as in BuildKit's order of importers.
            self.steps.entry(step.key).or_insert(ImportedStep {
                diff_id: step.layer.map(|i| diff_ids[i]),
                created: step.created,
            });
        }
    }

    /// Number of step records.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when no record was imported.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The record of a step, unless the caches broke.
    pub fn step(&self, key: &Digest) -> Option<ImportedStep> {
        if self.broken().is_some() {
            return None;
        }
        self.steps.get(key).copied()
    }

    /// Whether an imported cache holds the layer.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layers.contains_key(diff_id)
    }

    /// Why the caches stopped being used, if a fetch failed.
    pub fn broken(&self) -> Option<String> {
        self.broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn fail(&self, error: Error) -> Error {
        let mut slot = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(error.to_string());
        }
        error
    }

    /// Any failure while fetching from a cache is a cache error (the build falls back).
    fn as_cache_error(&self, layer: &ImportedLayer, error: Error) -> Error {
        if error.is_cache() {
            return error;
        }
        Error::CacheTransfer {
            location: self.backends[layer.backend].location(),
            source: Box::new(error),
        }
    }

    /// Makes a layer usable locally: its blob fetched and verified, unpacked into its
    /// snapshot (DiffID checked), and its layer record written (with the gzip blob, so a later
    /// export or save reuses the same bytes).
    pub fn materialize(&self, store: &Store, diff_id: &Digest) -> Result<()> {
        let _one = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        let record = store.index().layer(diff_id)?;
        if store.snapshots().exists(diff_id) && record.is_some() {
            return Ok(());
        }
        let layer = self.layers.get(diff_id).ok_or_else(|| Error::Image {
            reason: format!("layer {diff_id} is neither in the store nor in an imported cache"),
        })?;
        let blob = self
            .fetch(store, diff_id, layer)
            .map_err(|e| self.fail(e))?;
        let mut size = layer.size;
        if !store.snapshots().exists(diff_id) {
            size = self
                .unpack(store, diff_id, layer, &blob)
                .map_err(|e| self.fail(self.as_cache_error(layer, e)))?;
        }
        let mut record = record.unwrap_or(LayerRecord {
            diff_id: *diff_id,
            size,
            blobs: BTreeMap::new(),
            created: strata_cache::now(),
            source_date_epoch: None,
        });
        record.blobs.entry("gzip".into()).or_insert(blob);
        store.index().put_layer(&record)?;
        Ok(())
    }

    /// Fetches just a layer's gzip blob into the store (verified), for re-exporting a layer
    /// this build never needed on disk; returns it and the layer's uncompressed size.
    pub fn fetch_blob(&self, store: &Store, diff_id: &Digest) -> Result<Option<(BlobRef, u64)>> {
        let Some(layer) = self.layers.get(diff_id) else {
            return Ok(None);
        };
        let _one = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        let blob = self.fetch(store, diff_id, layer)?;
        Ok(Some((blob, layer.size)))
    }

    fn fetch(&self, store: &Store, diff_id: &Digest, layer: &ImportedLayer) -> Result<BlobRef> {
        let blob = BlobRef {
            digest: layer.blob,
            size: layer.blob_size,
        };
        if store.blobs().exists(&layer.blob) {
            return Ok(blob);
        }
        let backend = &self.backends[layer.backend];
        let failed = |source: Error| layer_failed(backend.as_ref(), diff_id, layer, source);
        let mut writer = store.blobs().writer()?;
        backend
            .get_blob(&layer.blob, &mut Capped::new(&mut writer, layer.blob_size))
            .map_err(failed)?;
        // A wrong blob is refused here and its temp file goes with the writer: nothing stored.
        writer
            .commit(Some(layer.blob))
            .map_err(|e| failed(e.into()))?;
        Ok(blob)
    }

    /// Unpacks a fetched blob into the layer's snapshot; returns the tar's size.
    fn unpack(
        &self,
        store: &Store,
        diff_id: &Digest,
        layer: &ImportedLayer,
        blob: &BlobRef,
    ) -> Result<u64> {
        let backend = &self.backends[layer.backend];
        let file = BufReader::with_capacity(1 << 20, store.blobs().open(&blob.digest)?);
        let scratch = store.snapshots().scratch("cache-import")?;
        let result = extract_layer(flate2::bufread::MultiGzDecoder::new(file), scratch.path());
        let report = match result {
            Ok(report) if report.diff_id == *diff_id => report,
            Ok(report) => {
                // Right blob digest, wrong content: the cache lied; keep nothing of it.
                let _ = store.blobs().remove(&blob.digest);
                return Err(Error::Cache {
                    location: backend.location(),
                    reason: format!(
                        "layer {diff_id} (blob {}): unpacks to DiffID {}",
                        layer.blob, report.diff_id
                    ),
                });
            }
            Err(e) => {
                let _ = store.blobs().remove(&blob.digest);
                return Err(layer_failed(backend.as_ref(), diff_id, layer, e));
            }
        };
        store.snapshots().install(scratch, diff_id)?;
        Ok(report.size)
    }
}

/// A failure fetching or unpacking a layer of a cache, its cause kept.
fn layer_failed(
    backend: &dyn CacheBackend,
    diff_id: &Digest,
    layer: &ImportedLayer,
    source: Error,
) -> Error {
    Error::CacheTransfer {
        location: format!(
            "{}: layer {diff_id} (blob {})",
            backend.location(),
            layer.blob
        ),
        source: Box::new(source),
    }
}

/// Reads and checks a cache's manifest and config.
fn read_contents(backend: &dyn CacheBackend) -> Result<Option<CacheContents>> {
    let bad = |reason: String| Error::Cache {
        location: backend.location(),
        reason,
    };
    let manifest = backend.manifest()?;
    let (config, layers) = format::parse_manifest(&manifest).map_err(bad)?;
    // Read into memory: held to the manifests' size limit, whatever the descriptor claims.
    if config.size > MAX_MANIFEST_SIZE {
        return Err(bad(format!(
            "cache config {} is {} bytes by its descriptor, over the {} MiB limit for configs",
            config.digest,
            config.size,
            MAX_MANIFEST_SIZE >> 20
        )));
    }
    let mut bytes = Vec::new();
    backend
        .get_blob(&config.digest, &mut Capped::new(&mut bytes, config.size))
        .map_err(|e| bad(format!("cache config {}: {e}", config.digest)))?;
    if Digest::of(&bytes) != config.digest {
        return Err(bad(format!(
            "cache config does not match its digest {}",
            config.digest
        )));
    }
    format::parse_config(&bytes, layers).map_err(bad)
}

/// A writer that refuses more bytes than the descriptor said: a cache serving an endless or
/// oversized blob fails early instead of filling the disk or memory.
struct Capped<'a> {
    inner: &'a mut dyn Write,
    left: u64,
}

impl<'a> Capped<'a> {
    fn new(inner: &'a mut dyn Write, size: u64) -> Self {
        Capped { inner, left: size }
    }
}

impl Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::other("more bytes than its descriptor's size"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
