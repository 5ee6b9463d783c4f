//! Images in the store: a manifest blob naming a config blob and layers, found by tag.
//!
//! Locally built images use uncompressed layer descriptors (`…layer.v1.tar`, digest = DiffID):
//! no tar is stored for them, the layer is regenerated from its snapshot when exported.
//! The image ID is the config digest, as docker's.

pub mod config;
pub mod reference;

use std::str::FromStr;

use oci_spec::image::{DescriptorBuilder, ImageManifestBuilder, MediaType};
use serde_json::Value;
use strata_cache::{Digest, Store};

use crate::error::{Error, Result};

/// An image the store holds.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The manifest's digest.
    pub manifest: Digest,
    /// The config's digest: the image ID.
    pub id: Digest,
    /// The config JSON.
    pub config: Value,
    /// Layer DiffIDs, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// Finds an image by reference (normalised) or by ID / unique ID prefix.
pub fn find(store: &Store, reference: &str) -> Result<Option<StoredImage>> {
    if let Some(manifest) = store.index().tag(&reference::normalize(reference))? {
        return load(store, &manifest).map(Some);
    }
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.len() >= 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let mut found = None;
        for (_, manifest) in store.index().tags()? {
            let image = load(store, &manifest)?;
            if image.id.hex().starts_with(hex) {
                if found
                    .as_ref()
                    .is_some_and(|f: &StoredImage| f.id != image.id)
                {
                    return Err(Error::Image {
                        reason: format!("image ID prefix `{reference}` is ambiguous"),
                    });
                }
                found = Some(image);
            }
        }
        return Ok(found);
    }
    Ok(None)
}

/// Loads an image by manifest digest.
pub fn load(store: &Store, manifest: &Digest) -> Result<StoredImage> {
    let bytes = store.blobs().read(manifest)?;
    let manifest_json: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Image {
        reason: format!("manifest {manifest}: {e}"),
    })?;
    let config_digest: Digest = manifest_json["config"]["digest"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| Error::Image {
            reason: format!("manifest {manifest} has no config digest"),
        })?;
    let config_bytes = store.blobs().read(&config_digest)?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| Error::Image {
        reason: format!("config {config_digest}: {e}"),
    })?;
    let diff_ids = config::diff_ids_of(&config);
    Ok(StoredImage {
        manifest: *manifest,
        id: config_digest,
        config,
        diff_ids,
    })
}

/// Stores a new image from its config JSON; layers are (DiffID, uncompressed size).
pub fn store_image(store: &Store, config: &Value, layers: &[(Digest, u64)]) -> Result<StoredImage> {
    let config_bytes = serde_json::to_vec(config).expect("configs serialise");
    store_image_raw(store, &config_bytes, layers)
}

/// Stores an image whose config bytes must be kept exactly (a loaded image keeps its ID).
pub fn store_image_raw(
    store: &Store,
    config_bytes: &[u8],
    layers: &[(Digest, u64)],
) -> Result<StoredImage> {
    let config: Value = serde_json::from_slice(config_bytes).map_err(|e| Error::Image {
        reason: format!("image config: {e}"),
    })?;
    let config_digest = store.blobs().put(config_bytes)?;
    let descriptor = |media: MediaType, digest: &Digest, size: u64| {
        DescriptorBuilder::default()
            .media_type(media)
            .digest(oci_spec::image::Digest::from_str(&digest.to_string()).expect("valid digest"))
            .size(size)
            .build()
            .map_err(|e| Error::Image {
                reason: e.to_string(),
            })
    };
    let layer_descriptors = layers
        .iter()
        .map(|(diff_id, size)| descriptor(MediaType::ImageLayer, diff_id, *size))
        .collect::<Result<Vec<_>>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_bytes.len() as u64,
        )?)
        .layers(layer_descriptors)
        .build()
        .map_err(|e| Error::Image {
            reason: e.to_string(),
        })?;
    let manifest_value = serde_json::to_value(&manifest).expect("manifests serialise");
    let manifest_bytes = serde_json::to_vec(&manifest_value).expect("manifests serialise");
    let manifest_digest = store.blobs().put(&manifest_bytes)?;
    Ok(StoredImage {
        manifest: manifest_digest,
        id: config_digest,
        config,
        diff_ids: layers.iter().map(|(d, _)| *d).collect(),
    })
}
