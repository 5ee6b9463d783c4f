//! `strata load`: image tarballs into the store.
//!
//! Reads what `strata save` writes, what `docker save` writes (Docker 25+ OCI-style and the
//! legacy per-layer-directory format), plain OCI archives (`skopeo copy … oci-archive:`), and
//! gzip- or zstd-compressed tarballs. A tar read from stdin can be read only once and its
//! entries come in any order, so every file is spooled into the blob store as it arrives
//! ([`super::spool`]) and the images are put together at the end ([`super::plan`]). Every
//! layer is unpacked into a snapshot and its DiffID checked against the config — except a
//! layer the store already has, whose bytes are only hashed and must hash to its DiffID or to
//! a blob recorded for it (a repeat load; `docker load` skips such layers unread). A loaded
//! image keeps the manifest it came with; a docker-archive-only image gets an OCI manifest.
//!
//! Anything hostile or inconsistent fails the whole load, and everything the load wrote is
//! undone: blobs and snapshots it added are removed, layer records restored, and names are
//! only written once every image is in place.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use serde_json::Value;
use strata_cache::{BlobRef, Digest, LayerRecord, Store};

use super::checks::Reread;
use super::plan::{plans, ImagePlan};
use super::spool::{compression_of, decompress, spool, Unpacked};
use crate::error::{Error, Result};
use crate::image::{self, config::diff_ids_of, UNTAGGED_PREFIX};
use crate::layer::{extract_layer, ExtractReport};

pub(super) fn bad(reason: impl Into<String>) -> Error {
    Error::Archive {
        reason: reason.into(),
    }
}

/// A read of the archive that failed, the reader's error kept as the cause.
pub(super) fn read_failed(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::ArchiveRead {
        what: what.into(),
        source,
    }
}

/// What a load brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The names the image was loaded under (store keys), empty for an untagged image.
    pub names: Vec<String>,
    /// The image ID.
    pub id: Digest,
}

/// Loads every image of the archive read from `input`.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<Loaded>> {
    load_from(store, input, None)
}

/// [`load`] from a file, read from its current position: a layer that must be hashed before
/// the load can tell whether the store has it (docker's legacy `<id>/layer.tar`) is then read
/// a second time if it is new, instead of being copied aside in case it is.
pub fn load_file(store: &Store, file: &File) -> Result<Vec<Loaded>> {
    load_from(store, file, Reread::of(file))
}

fn load_from(store: &Store, input: impl Read, reread: Option<Reread<'_>>) -> Result<Vec<Loaded>> {
    let mut written = Written::default();
    match load_inner(store, input, reread, &mut written) {
        Ok((loaded, keep)) => {
            written.remove_unreferenced(store, &keep);
            Ok(loaded)
        }
        Err(error) => {
            written.undo(store);
            Err(error)
        }
    }
}

/// What this load changed, to undo on failure and to tidy on success.
#[derive(Default)]
pub(crate) struct Written {
    /// Blobs this load added (none of them existed before).
    pub(crate) blobs: BTreeSet<Digest>,
    /// Snapshots this load installed.
    snapshots: BTreeSet<Digest>,
    /// Layer records as they were before this load touched them.
    records: BTreeMap<Digest, Option<LayerRecord>>,
    /// Names as they were before this load set them.
    tags: BTreeMap<String, Option<Digest>>,
}

impl Written {
    pub(crate) fn undo(&self, store: &Store) {
        for (key, before) in &self.tags {
            let _ = match before {
                Some(manifest) => store.index().put_tag(key, manifest),
                None => store.index().remove_tag(key).map(|_| ()),
            };
        }
        for (diff_id, before) in &self.records {
            let _ = match before {
                Some(record) => store.index().put_layer(record),
                None => store.index().remove_layer(diff_id),
            };
        }
        let _ = store.index().flush();
        for diff_id in &self.snapshots {
            let _ = store.snapshots().remove(diff_id);
        }
        for digest in &self.blobs {
            let _ = store.blobs().remove(digest);
        }
    }

    /// Spooled files that no loaded image uses (manifest.json, legacy JSON, other platforms'
    /// blobs…) go.
    fn remove_unreferenced(&self, store: &Store, keep: &BTreeSet<Digest>) {
        for digest in self.blobs.difference(keep) {
            let _ = store.blobs().remove(digest);
        }
    }

    fn put_record(&mut self, store: &Store, record: &LayerRecord) -> Result<()> {
        if let Entry::Vacant(slot) = self.records.entry(record.diff_id) {
            slot.insert(store.index().layer(&record.diff_id)?);
        }
        store.index().put_layer(record)?;
        Ok(())
    }

    pub(crate) fn put_tag(&mut self, store: &Store, key: &str, manifest: &Digest) -> Result<()> {
        // The name, the image's untagged record, and that of the image the name may leave
        // (kept as `<none>`): all are put back if the load fails.
        let mut keys = vec![key.to_string(), format!("{UNTAGGED_PREFIX}{manifest}")];
        if let Some(previous) = store.index().tag(key)? {
            keys.push(format!("{UNTAGGED_PREFIX}{previous}"));
        }
        for k in keys {
            if let Entry::Vacant(slot) = self.tags.entry(k) {
                let before = store.index().tag(slot.key())?;
                slot.insert(before);
            }
        }
        if key.starts_with(UNTAGGED_PREFIX) {
            image::keep_untagged(store, manifest)
        } else {
            image::name(store, key, manifest)
        }
    }
}

fn load_inner(
    store: &Store,
    input: impl Read,
    reread: Option<Reread<'_>>,
    written: &mut Written,
) -> Result<(Vec<Loaded>, BTreeSet<Digest>)> {
    let mut spooled = spool(store, input, reread, written)?;
    let plans = plans(store, &spooled)?;
    let mut keep = BTreeSet::new();
    let mut loaded = Vec::new();
    // blob → DiffID of layers already verified and in place: to begin with, those the store
    // had, whose bytes the spool checked against their digests without unpacking them.
    let mut verified: BTreeMap<Digest, Digest> = std::mem::take(&mut spooled.known);
    let mut naming: Vec<(String, Digest)> = Vec::new();
    for plan in &plans {
        let stored = store_plan(store, plan, &mut spooled.unpacked, &mut verified, written)?;
        keep.insert(stored.id);
        keep.insert(stored.manifest);
        keep.extend(plan.layers.iter().copied());
        if plan.names.is_empty() {
            naming.push((
                format!("{UNTAGGED_PREFIX}{}", stored.manifest),
                stored.manifest,
            ));
        }
        for name in &plan.names {
            naming.push((name.clone(), stored.manifest));
        }
        loaded.push(Loaded {
            names: plan.names.clone(),
            id: stored.id,
        });
    }
    // Names last: an image is never named before all of it is in place.
    for (key, manifest) in &naming {
        written.put_tag(store, key, manifest)?;
    }
    store.index().flush()?;
    Ok((loaded, keep))
}

/// Puts one image's layers and manifest into the store.
pub(crate) fn store_plan(
    store: &Store,
    plan: &ImagePlan,
    unpacked: &mut BTreeMap<Digest, Unpacked>,
    verified: &mut BTreeMap<Digest, Digest>,
    written: &mut Written,
) -> Result<image::StoredImage> {
    let config_bytes = store.blobs().read(&plan.config)?;
    let config: Value =
        serde_json::from_slice(&config_bytes).map_err(|e| bad(format!("image config: {e}")))?;
    if !config.is_object() || config["rootfs"]["type"].as_str() != Some("layers") {
        return Err(bad(format!(
            "config {} is not an image config (no `rootfs` of type `layers`)",
            plan.config
        )));
    }
    let diff_ids = diff_ids_of(&config);
    if config["rootfs"]["diff_ids"]
        .as_array()
        .is_none_or(|d| d.len() != diff_ids.len())
    {
        return Err(bad(format!("config {} has invalid DiffIDs", plan.config)));
    }
    if diff_ids.len() != plan.layers.len() {
        return Err(bad(format!(
            "the config lists {} layers but the manifest {}",
            diff_ids.len(),
            plan.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (blob, diff_id) in plan.layers.iter().zip(&diff_ids) {
        let size = match verified.get(blob) {
            Some(known) if known == diff_id => store
                .index()
                .layer(diff_id)?
                .map_or(0, |record| record.size),
            Some(known) => {
                return Err(bad(format!(
                    "layer {blob} has DiffID {known} but the config says {diff_id}"
                )))
            }
            None => {
                let size = import_layer(store, blob, diff_id, unpacked.remove(blob), written)?;
                verified.insert(*blob, *diff_id);
                size
            }
        };
        layers.push((*diff_id, size));
    }
    match plan.manifest {
        Some(manifest) => {
            let stored = image::load(store, &manifest)?;
            if stored.id != plan.config {
                return Err(bad(format!("manifest {manifest} names another config")));
            }
            Ok(stored)
        }
        None => {
            let bytes =
                image::uncompressed_manifest(&plan.config, config_bytes.len() as u64, &layers)?;
            let digest = Digest::of(&bytes);
            if !store.blobs().exists(&digest) {
                store.blobs().put(&bytes)?;
                written.blobs.insert(digest);
            }
            image::load(store, &digest)
        }
    }
}

/// Unpacks one layer blob into its snapshot (unless already there, or unpacked while it
/// streamed in), checks the DiffID and records the layer; returns its uncompressed size.
fn import_layer(
    store: &Store,
    blob: &Digest,
    diff_id: &Digest,
    prepared: Option<Unpacked>,
    written: &mut Written,
) -> Result<u64> {
    let mismatch = |actual: &Digest| {
        bad(format!(
            "layer {blob} has DiffID {actual} but the config says {diff_id}"
        ))
    };
    if let Some(prepared) = prepared {
        if prepared.report.diff_id != *diff_id {
            return Err(mismatch(&prepared.report.diff_id));
        }
        if !store.snapshots().exists(diff_id) {
            store.snapshots().install(prepared.dir, diff_id)?;
            written.snapshots.insert(*diff_id);
        }
        let kept = (!prepared.canonical).then_some(prepared.compression);
        return record_layer(store, blob, diff_id, kept, prepared.report.size, written);
    }
    if !store.blobs().exists(blob) {
        return Err(bad(format!("blob {blob} is missing from the archive")));
    }
    let mut file = BufReader::with_capacity(1 << 20, store.blobs().open(blob)?);
    let head = file
        .fill_buf()
        .map_err(read_failed(format!("layer {blob}")))?;
    let compression = compression_of(head).unwrap_or("none");
    let reader = decompress(compression, file).map_err(read_failed(format!("layer {blob}")))?;
    let report = if store.snapshots().exists(diff_id) {
        let mut hasher = strata_cache::Hasher::new();
        let mut reader = reader;
        io::copy(&mut reader, &mut hasher).map_err(read_failed(format!("layer {blob}")))?;
        let size = hasher.len();
        ExtractReport {
            diff_id: hasher.finish(),
            size,
        }
    } else {
        let scratch = store.snapshots().scratch("load")?;
        let report = extract_layer(reader, scratch.path()).map_err(|e| Error::ArchiveLayer {
            blob: *blob,
            source: Box::new(e),
        })?;
        if report.diff_id != *diff_id {
            return Err(mismatch(&report.diff_id));
        }
        store.snapshots().install(scratch, diff_id)?;
        written.snapshots.insert(*diff_id);
        report
    };
    if report.diff_id != *diff_id {
        return Err(mismatch(&report.diff_id));
    }
    record_layer(
        store,
        blob,
        diff_id,
        Some(compression),
        report.size,
        written,
    )
}

fn record_layer(
    store: &Store,
    blob: &Digest,
    diff_id: &Digest,
    compression: Option<&str>,
    size: u64,
    written: &mut Written,
) -> Result<u64> {
    let existing = store.index().layer(diff_id)?;
    let mut record = existing.clone().unwrap_or(LayerRecord {
        diff_id: *diff_id,
        size,
        blobs: BTreeMap::new(),
        created: strata_cache::now(),
        source_date_epoch: None,
    });
    if let Some(compression) = compression {
        // An existing blob for this compression stays: saves keep reusing the same bytes.
        let known = record
            .blobs
            .get(compression)
            .is_some_and(|b| store.blobs().exists(&b.digest));
        if !known && store.blobs().exists(blob) {
            let blob_size = store.blobs().size(blob)?;
            record.blobs.insert(
                compression.to_string(),
                BlobRef {
                    digest: *blob,
                    size: blob_size,
                },
            );
        }
    }
    if existing.as_ref() != Some(&record) {
        written.put_record(store, &record)?;
    }
    Ok(record.size)
}
