//! Getting a layer's bytes for export, in the form asked for: from a stored blob (as is or
//! decompressed), or regenerated from its snapshot (built layers store no tar). Compressed
//! forms are made once and remembered in the layer record.

use std::io::{self, Read, Write};

use strata_cache::{BlobRef, Digest, LayerRecord, Store};

use crate::error::{Error, Result};
use crate::layer::{compress, write_layer, Compression, LayerOptions};

/// Writes the uncompressed tar of a layer into `out`, checking its DiffID.
pub(super) fn uncompressed_layer(
    store: &Store,
    record: &LayerRecord,
    out: &mut dyn Write,
) -> Result<()> {
    let mut checking = Checking {
        inner: out,
        hasher: strata_cache::Hasher::new(),
    };
    if let Some(blob) = record.blobs.get("none") {
        let mut file = store.blobs().open(&blob.digest)?;
        io::copy(&mut file, &mut checking).map_err(|e| io_error(store, &blob.digest, e))?;
    } else if let Some((name, blob)) = record
        .blobs
        .iter()
        .find(|(n, _)| *n == "gzip" || *n == "zstd")
    {
        let file = io::BufReader::new(store.blobs().open(&blob.digest)?);
        let mut reader: Box<dyn Read> = if name == "gzip" {
            Box::new(flate2::bufread::MultiGzDecoder::new(file))
        } else {
            Box::new(
                zstd::stream::read::Decoder::with_buffer(file)
                    .map_err(|e| io_error(store, &blob.digest, e))?,
            )
        };
        io::copy(&mut reader, &mut checking).map_err(|e| io_error(store, &blob.digest, e))?;
    } else {
        let snapshot = store.snapshots().path(&record.diff_id);
        let options = LayerOptions {
            source_date_epoch: record.source_date_epoch,
        };
        // write_layer hashes what it writes already: its DiffID is the check, not a second
        // pass of SHA-256 over the same bytes.
        let summary = write_layer(&snapshot, &options, checking.inner)?;
        return verify(record, summary.diff_id, summary.size);
    }
    let size = checking.hasher.len();
    let actual = checking.hasher.finish();
    verify(record, actual, size)
}

/// The layer's bytes were those of its record, or its snapshot or blob changed on disk.
fn verify(record: &LayerRecord, actual: strata_cache::Digest, size: u64) -> Result<()> {
    if actual != record.diff_id || size != record.size {
        return Err(Error::Image {
            reason: format!(
                "layer {} regenerated as {actual} ({size} bytes): its snapshot or blob was changed on disk",
                record.diff_id
            ),
        });
    }
    Ok(())
}

/// The compressed blob of a layer, made and remembered on first use.
pub(crate) fn compressed_blob(
    store: &Store,
    diff_id: &Digest,
    compression: Compression,
) -> Result<BlobRef> {
    let mut record = store.index().layer(diff_id)?.ok_or_else(|| Error::Image {
        reason: format!("layer {diff_id} has no record in the store"),
    })?;
    if let Some(blob) = record.blobs.get(compression.name()) {
        if store.blobs().exists(&blob.digest) {
            return Ok(blob.clone());
        }
    }
    // Uncompressed bytes flow through a pipe into the compressor and the blob writer.
    let (reader, mut writer) = io::pipe().map_err(|e| Error::Io {
        path: store.root().to_path_buf(),
        source: e,
    })?;
    let mut blob = store.blobs().writer()?;
    let produced = std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            let result = uncompressed_layer(store, &record, &mut writer);
            drop(writer);
            result
        });
        let mut reader = reader;
        let compressed = compress(compression, &mut reader, &mut blob);
        let produced = producer.join().expect("layer producer panicked");
        produced.and(compressed.map(|_| ()).map_err(|e| Error::Io {
            path: store.root().to_path_buf(),
            source: e,
        }))
    });
    produced?;
    let (digest, size) = blob.commit(None)?;
    let blob_ref = BlobRef { digest, size };
    record
        .blobs
        .insert(compression.name().to_string(), blob_ref.clone());
    store.index().put_layer(&record)?;
    Ok(blob_ref)
}

struct Checking<'a> {
    inner: &'a mut dyn Write,
    hasher: strata_cache::Hasher,
}

impl Write for Checking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn io_error(store: &Store, digest: &Digest, source: io::Error) -> Error {
    Error::Io {
        path: store.blobs().path(digest),
        source,
    }
}
