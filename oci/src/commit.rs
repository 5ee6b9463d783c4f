//! Turning a directory of changes into a stored layer: write the layer tar only to hash it
//! (the DiffID), install the directory itself as the snapshot for that DiffID (a rename, no
//! copy), and record the layer's facts in the index.

use std::io;

use strata_cache::{Digest, LayerRecord, ScratchDir, Store};

use crate::error::Result;
use crate::layer::{write_layer, LayerOptions};

/// Commits `dir` as a layer. An empty directory is no layer at all (`Ok(None)`): a step that
/// changed nothing adds an `empty_layer` history entry instead, as BuildKit does.
pub fn commit_dir(
    store: &Store,
    dir: ScratchDir,
    options: &LayerOptions,
) -> Result<Option<Digest>> {
    let empty = std::fs::read_dir(dir.path())
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(false);
    if empty {
        return Ok(None);
    }
    let summary = write_layer(dir.path(), options, &mut io::sink())?;
    store.snapshots().install(dir, &summary.diff_id)?;
    if store.index().layer(&summary.diff_id)?.is_none() {
        store.index().put_layer(&LayerRecord {
            diff_id: summary.diff_id,
            size: summary.size,
            blobs: Default::default(),
            created: strata_cache::now(),
            source_date_epoch: options.source_date_epoch,
        })?;
    }
    Ok(Some(summary.diff_id))
}
