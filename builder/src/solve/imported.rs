//! The solver's side of `--cache-from` / `--cache-to`: hits from imported records, the lazy
//! fetch of their layers, and the list of step results an export writes.
//!
//! A hit from an imported record needs no files: the step's state is its cache key and DiffIDs.
//! Files are needed only where something reads them — the parent of a step that misses, the
//! source of a `COPY --from` (its key hashes the files it copies) or of a `RUN --mount`, the
//! final image — and [`Snapshots::ensure`](super::snapshots::Snapshots::ensure) fetches them
//! there. So a chain of hits is not
//! downloaded until (unless) something reads it.

use strata_cache::{Digest, StepRecord};
use strata_frontend::graph::VertexId;

use super::scheduler::Run;
use super::state::State;
use super::Builder;
use crate::error::Result;
use strata_oci::cache_exchange::ImportedStep;

/// One filesystem step of a finished build; the cache exchange owns the type it exports.
pub use strata_oci::cache_exchange::BuiltStep;

impl Run<'_> {
    pub(super) fn record_step(
        &self,
        id: VertexId,
        key: Digest,
        diff_id: Option<Digest>,
        created: i64,
    ) {
        self.steps.lock().unwrap_or_else(|p| p.into_inner()).push((
            id,
            BuiltStep {
                key,
                diff_id,
                created,
                in_image: false,
            },
        ));
    }
}

/// The steps of a finished run, marked by whether the final state's chain holds them.
pub(super) fn built_steps(run: &Run<'_>, state: &State) -> Vec<BuiltStep> {
    let steps = std::mem::take(&mut *run.steps.lock().unwrap_or_else(|p| p.into_inner()));
    steps
        .into_iter()
        .map(|(id, mut step)| {
            step.in_image = state.created.iter().any(|(v, _)| *v == id);
            step
        })
        .collect()
}

impl Builder<'_> {
    /// An imported record for `key` whose layer can be had (already on disk, or in the cache
    /// it came from); the local index learns it.
    pub(super) fn imported_step(
        &self,
        run: &Run<'_>,
        key: &Digest,
        now: i64,
    ) -> Result<Option<ImportedStep>> {
        let Some(imported) = run.imported else {
            return Ok(None);
        };
        let Some(found) = imported.step(key) else {
            return Ok(None);
        };
        let available = found
            .diff_id
            .is_none_or(|d| self.store.snapshots().exists(&d) || imported.has_layer(&d));
        if !available {
            return Ok(None);
        }
        self.store.index().put_step(
            key,
            &StepRecord {
                diff_id: found.diff_id,
                created: found.created,
                last_used: now,
            },
        )?;
        Ok(Some(found))
    }
}
