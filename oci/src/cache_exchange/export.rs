//! `--cache-to`: writes the records of a finished build, with their layers, to a cache.
//!
//! Layers go as gzip blobs made once per layer and remembered in its layer record (the same
//! memo `strata save --compression gzip` uses), so exporting again, or saving, reuses the
//! bytes. Blobs the cache already has are not sent again; the manifest goes last.

use std::collections::BTreeMap;

use strata_cache::{BlobRef, Digest, Store};

use super::format::{self, CacheConfig, CacheLayer, CacheStep, KEY_SCHEME};
use super::spec::CacheMode;
use super::{CacheBackend, ImportedCache};
use crate::archive::compressed_blob;
use crate::error::Result;
use crate::image::manifest::Desc;
use crate::layer::Compression;

/// One filesystem step of a finished build, as `--cache-to` exports it. The solver fills
/// these in as steps finish (a hit or a run); the export picks the ones `mode` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltStep {
    /// Its cache key.
    pub key: Digest,
    /// The layer it added, if any.
    pub diff_id: Option<Digest>,
    /// When it first ran (history `created`).
    pub created: i64,
    /// Whether it is in the final image's chain (what `mode=min` exports).
    pub in_image: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Step records written.
    pub steps: usize,
    /// Layers the cache holds.
    pub layers: usize,
    /// Layer blobs sent (the others were there already).
    pub uploaded: usize,
    /// Steps left out because their layer is neither in the store nor in an imported cache.
    pub skipped: usize,
}

/// Exports the steps `mode` selects to `backend`.
pub fn export(
    store: &Store,
    imported: Option<&ImportedCache>,
    steps: &[BuiltStep],
    mode: CacheMode,
    backend: &dyn CacheBackend,
) -> Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    let selected: BTreeMap<Digest, &BuiltStep> = steps
        .iter()
        .filter(|s| mode == CacheMode::Max || s.in_image)
        .map(|s| (s.key, s))
        .collect();
    let mut layer_index: BTreeMap<Digest, Option<usize>> = BTreeMap::new();
    let mut layers: Vec<(CacheLayer, BlobRef)> = Vec::new();
    let mut records = Vec::new();
    for step in selected.values() {
        let layer = match step.diff_id {
            None => None,
            Some(diff_id) => match layer_index.get(&diff_id) {
                Some(known) => *known,
                None => {
                    let found = layer_blob(store, imported, &diff_id)?;
                    let index = found.map(|(blob, size)| {
                        layers.push((CacheLayer { diff_id, size }, blob));
                        layers.len() - 1
                    });
                    layer_index.insert(diff_id, index);
                    index
                }
            },
        };
        if step.diff_id.is_some() && layer.is_none() {
            summary.skipped += 1;
            continue;
        }
        records.push(CacheStep {
            key: step.key,
            layer,
            created: step.created,
        });
    }
    for (_, blob) in &layers {
        if !backend.has_blob(&blob.digest, blob.size)? {
            backend.put_blob(&blob.digest, blob.size, &store.blobs().path(&blob.digest))?;
            summary.uploaded += 1;
        }
    }
    summary.steps = records.len();
    summary.layers = layers.len();
    let config = CacheConfig {
        keys: KEY_SCHEME.into(),
        layers: layers.iter().map(|(l, _)| l.clone()).collect(),
        steps: records,
    };
    let config_bytes = format::config_bytes(&config);
    let config_digest = store.blobs().put(&config_bytes)?;
    let config_size = config_bytes.len() as u64;
    if !backend.has_blob(&config_digest, config_size)? {
        backend.put_blob(
            &config_digest,
            config_size,
            &store.blobs().path(&config_digest),
        )?;
    }
    let desc = |digest: Digest, size: u64| Desc {
        media_type: String::new(),
        digest,
        size,
    };
    let manifest = format::manifest_bytes(
        &desc(config_digest, config_size),
        &layers
            .iter()
            .map(|(_, b)| desc(b.digest, b.size))
            .collect::<Vec<_>>(),
    );
    backend.put_manifest(&manifest)?;
    Ok(summary)
}

/// The gzip blob of a layer and its uncompressed size: from the store (compressed once and
/// remembered), else fetched from an imported cache; `None` when neither has it.
fn layer_blob(
    store: &Store,
    imported: Option<&ImportedCache>,
    diff_id: &Digest,
) -> Result<Option<(BlobRef, u64)>> {
    if let Some(record) = store.index().layer(diff_id)? {
        let have_bytes = store.snapshots().exists(diff_id)
            || record
                .blobs
                .values()
                .any(|b| store.blobs().exists(&b.digest));
        if have_bytes {
            let blob = compressed_blob(store, diff_id, Compression::Gzip)?;
            return Ok(Some((blob, record.size)));
        }
    }
    match imported {
        Some(imported) => imported.fetch_blob(store, diff_id),
        None => Ok(None),
    }
}
