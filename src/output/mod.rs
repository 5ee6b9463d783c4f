//! Where a build's result goes: `-o`/`--output`, `--push`, `--load` and `--metadata-file`,
//! with buildx's syntax and behaviour.
//!
//! `spec.rs` reads the flags into [`Output`]s; each exporter has its own file and calls the
//! OCI crate for the work: `local.rs` (the files into a directory), `tar.rs` (the files as
//! one tar), `archive.rs` (an image tarball, as `strata save` writes it), `image.rs` (names
//! in the store, and a push). `metadata.rs` writes what buildx's `--metadata-file` holds.

mod archive;
mod dest;
mod image;
mod local;
mod metadata;
mod spec;
mod tar;

use std::sync::Arc;

use strata_cache::Store;
use strata_oci::image::StoredImage;
use strata_oci::registry::Registry;

pub use metadata::{write_metadata, ImageMetadata};
pub use spec::{resolve, Output};

/// What the exporters need besides the image.
pub struct Exporters<'a> {
    /// The store the image is in.
    pub store: &'a Store,
    /// The registry client, for pushes.
    pub registry: &'a Arc<Registry>,
    /// Progress notes (`exporting to …`, a push's lines).
    pub note: &'a (dyn Fn(&str) + Sync),
}

/// Runs every output, in order. Returns what `--metadata-file` reports: the image as the
/// last push sent it, else as the last image output wrote it (`None` when no output makes
/// an image, as for `type=local`).
pub fn export(
    exporters: &Exporters<'_>,
    outputs: &[Output],
    image: &StoredImage,
) -> anyhow::Result<Option<ImageMetadata>> {
    let mut reported: Option<ImageMetadata> = None;
    for output in outputs {
        let made = match output {
            Output::Local { dest } => {
                local::export(exporters, image, dest)?;
                None
            }
            Output::Tar { dest } => {
                tar::export(exporters, image, dest)?;
                None
            }
            Output::Archive {
                format,
                dest,
                names,
                compression,
            } => Some(archive::export(
                exporters,
                image,
                *format,
                dest,
                names,
                *compression,
            )?),
            Output::Image {
                names,
                push,
                compression,
            } => Some(image::export(exporters, image, names, *push, *compression)?),
        };
        if let Some(made) = made {
            if !reported.as_ref().is_some_and(|r| r.pushed && !made.pushed) {
                reported = Some(made);
            }
        }
    }
    Ok(reported)
}
