//! The manifest an image leaves the store with: what `save` writes into a tarball and `push`
//! sends to a registry for a given layer compression. `build --metadata-file` reports it, so
//! its digest is the one the tarball or the registry holds, not the store's own manifest
//! (which names uncompressed layers, and differs as soon as layers are compressed).

use strata_cache::{Digest, Store};

use super::save::plan;
use crate::error::Result;
use crate::image::StoredImage;
use crate::layer::Compression;

/// A manifest as an OCI descriptor names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestDescriptor {
    /// `application/vnd.oci.image.manifest.v1+json` or docker's schema 2 type.
    pub media_type: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// The manifest `image` is saved or pushed with when its layers are in `compression`
/// (`None`: plain tars). Layers not yet compressed that way are compressed (once: the blob is
/// kept), so call it after the save or push it describes.
pub fn exported_manifest(
    store: &Store,
    image: &StoredImage,
    compression: Option<Compression>,
) -> Result<ManifestDescriptor> {
    let plan = plan(store, image, compression)?;
    Ok(ManifestDescriptor {
        media_type: plan.manifest_media_type,
        digest: Digest::of(&plan.manifest_bytes),
        size: plan.manifest_bytes.len() as u64,
    })
}
