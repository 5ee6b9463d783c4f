//! `type=tar,dest=FILE|-`: the target stage's filesystem as one tar, no image stored (what
//! `strata export` gives for the same image).

use strata_oci::archive::export as export_tar;
use strata_oci::image::StoredImage;

use super::dest::{describe, write_to};
use super::spec::Dest;
use super::Exporters;

/// Writes the image's flattened filesystem as a tar to `dest`.
pub fn export(exporters: &Exporters<'_>, image: &StoredImage, dest: &Dest) -> anyhow::Result<()> {
    (exporters.note)(&format!("sending tarball to {}", describe(dest)));
    write_to(dest, "the tarball", |out| {
        Ok(export_tar(exporters.store, image, out)?)
    })
}
