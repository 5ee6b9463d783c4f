//! The files behind a state: its layers' snapshot dirs, made present on demand. A state from a
//! cache hit is only digests; where something reads its files (the parent of a step that
//! misses, the source of a `COPY --from`, a mounted stage, the final image) the layers the
//! store lacks are fetched from the imported caches (`--cache-from`).

use strata_cache::{Digest, Store};

use crate::error::{Error, Result};
use strata_oci::cache_exchange::ImportedCache;
use strata_oci::LayerStack;

/// Snapshot dirs of one build attempt: the store's, and the imported caches' when the attempt
/// uses them.
#[derive(Clone, Copy)]
pub(crate) struct Snapshots<'r> {
    store: &'r Store,
    imported: Option<&'r ImportedCache>,
}

impl<'r> Snapshots<'r> {
    /// Snapshots from `store`, missing ones fetched from `imported`.
    pub fn new(store: &'r Store, imported: Option<&'r ImportedCache>) -> Self {
        Snapshots { store, imported }
    }

    /// Makes every layer of a chain present on disk, fetching from the imported caches what
    /// the store lacks.
    pub fn ensure(&self, layers: &[Digest]) -> Result<()> {
        for diff_id in layers {
            if self.store.snapshots().exists(diff_id) {
                continue;
            }
            match self.imported {
                Some(imported) if imported.has_layer(diff_id) => {
                    imported.materialize(self.store, diff_id)?
                }
                _ => return Err(Error::SnapshotMissing { diff_id: *diff_id }),
            }
        }
        Ok(())
    }

    /// The layered view of a chain, topmost first. A layer that occurs twice (`COPY d /x/`
    /// then `ADD d /x/` make the same layer) is kept only at its topmost place: overlay refuses
    /// the same directory twice, and the lower copy adds nothing the upper one does not.
    pub fn view(&self, layers: &[Digest]) -> LayerStack {
        let mut seen = std::collections::BTreeSet::new();
        LayerStack::new(
            layers
                .iter()
                .rev()
                .filter(|d| seen.insert(**d))
                .map(|d| self.store.snapshots().path(d))
                .collect(),
        )
    }
}
