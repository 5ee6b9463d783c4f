//! Copy records: what a COPY from the context wrote, kept so that the next run of the same step
//! (same parent, same definition, some sources edited) hard-links the unchanged files from the
//! earlier snapshot instead of copying them again (see [`crate::copy::Reuse`]).

use strata_cache::{CopyRecord, Digest, Store};

use crate::copy::{Reuse, WrittenFiles};
use crate::error::Result;

/// The earlier snapshot of the copy step with this lineage, if its record and snapshot are
/// still there.
pub(super) fn earlier(store: &Store, lineage: &Digest) -> Result<Option<Reuse>> {
    let Some(record) = store.index().copy_record(lineage)? else {
        return Ok(None);
    };
    if !store.snapshots().exists(&record.diff_id) {
        return Ok(None);
    }
    Ok(Some(Reuse {
        snapshot: store.snapshots().path(&record.diff_id),
        files: record
            .files
            .into_iter()
            .map(|(path, digest)| (path, *digest.bytes()))
            .collect(),
    }))
}

/// Records what the copy step with this lineage wrote into the layer `diff_id`.
pub(super) fn remember(
    store: &Store,
    lineage: &Digest,
    diff_id: Digest,
    written: WrittenFiles,
) -> Result<()> {
    let record = CopyRecord {
        diff_id,
        files: written
            .into_iter()
            .map(|(path, digest)| (path, Digest::from_bytes(digest)))
            .collect(),
    };
    store.index().put_copy_record(lineage, &record)?;
    Ok(())
}
