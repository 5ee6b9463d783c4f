//! `type=local,dest=DIR`: the target stage's filesystem into a directory, no image stored.

use std::path::Path;

use anyhow::Context as _;
use strata_oci::archive::export_dir;
use strata_oci::image::StoredImage;

use super::Exporters;

/// Writes the image's flattened filesystem into `dest`.
pub fn export(exporters: &Exporters<'_>, image: &StoredImage, dest: &Path) -> anyhow::Result<()> {
    (exporters.note)(&format!("copying files to `{}`", dest.display()));
    export_dir(exporters.store, image, dest)
        .with_context(|| format!("exporting the files to `{}`", dest.display()))
}
