//! Images in the store: a manifest blob naming a config blob and layers, found by tag.
//!
//! Locally built images use uncompressed layer descriptors (`…layer.v1.tar`, digest = DiffID):
//! no tar is stored for them, the layer is regenerated from its snapshot when exported. A
//! loaded image keeps the manifest it came with (and its layer blobs). The image ID is the
//! config digest, as docker's.
//!
//! Names live in the index's tag tree (`name:tag` → manifest digest). An image loaded without
//! a name is kept under an *untagged* key (`<none>@sha256:<manifest>`), which docker would
//! call a dangling image: `images` lists it as `<none>`, it is found by ID, and it stays until
//! `rmi` of its ID.
//!
//! ```no_run
//! # fn main() -> strata_oci::Result<()> {
//! let store = strata_cache::Store::open("/var/lib/strata".as_ref(), &Default::default())?;
//! if let Some(image) = strata_oci::image::find(&store, "busybox")? {
//!     println!("{} has {} layers", image.id, image.diff_ids.len());
//! }
//! # Ok(()) }
//! ```

pub mod config;
pub(crate) mod manifest;
pub mod reference;

use serde_json::Value;
use strata_cache::{Digest, Store};

use crate::error::{Error, Result};
use manifest::Desc;
use reference::Reference;

/// The prefix of the index keys that keep untagged images.
pub(crate) const UNTAGGED_PREFIX: &str = "<none>@";

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

/// Finds an image as docker resolves a reference: a full image ID (`sha256:…`), a name
/// (`name` is `name:latest`), `name@sha256:<manifest digest>`, or a unique ID prefix.
pub fn find(store: &Store, reference: &str) -> Result<Option<StoredImage>> {
    let reference = reference.trim();
    if let Ok(id) = reference.parse::<Digest>() {
        return find_by_id_prefix(store, &id.hex(), reference);
    }
    if let Ok(parsed) = Reference::parse(reference) {
        match parsed.digest {
            None => {
                if let Some(manifest) = store.index().tag(&parsed.key())? {
                    return load(store, &manifest).map(Some);
                }
            }
            Some(digest) => {
                // A pull by digest names the image `name@sha256:…` (an index's digest, too).
                if let Some(manifest) = store.index().tag(&parsed.key())? {
                    return load(store, &manifest).map(Some);
                }
                for (key, manifest) in names(store)? {
                    if manifest == digest && reference::split_key(&key).0 == parsed.name {
                        return load(store, &manifest).map(Some);
                    }
                }
                return Ok(None);
            }
        }
    }
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.len() >= 4 && hex.len() <= 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return find_by_id_prefix(store, &hex.to_ascii_lowercase(), reference);
    }
    Ok(None)
}

fn find_by_id_prefix(store: &Store, hex: &str, reference: &str) -> Result<Option<StoredImage>> {
    let mut found: Option<StoredImage> = None;
    let mut seen = std::collections::BTreeSet::new();
    for (_, manifest) in store.index().tags()? {
        if !seen.insert(manifest) {
            continue;
        }
        let image = load(store, &manifest)?;
        if image.id.hex().starts_with(hex) {
            if let Some(other) = &found {
                if other.id != image.id {
                    return Err(Error::Image {
                        reason: format!("image ID prefix `{reference}` is ambiguous"),
                    });
                }
                continue;
            }
            found = Some(image);
        }
    }
    Ok(found)
}

/// Loads an image by manifest digest.
pub fn load(store: &Store, manifest: &Digest) -> Result<StoredImage> {
    let bytes = store.blobs().read(manifest)?;
    let parsed = manifest::parse_manifest(&bytes).map_err(|e| Error::Image {
        reason: format!("manifest {manifest}: {e}"),
    })?;
    let config_digest = parsed.config.digest;
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

/// The store's names (`name:tag` → manifest), untagged keys left out, sorted by name.
pub fn names(store: &Store) -> Result<Vec<(String, Digest)>> {
    Ok(store
        .index()
        .tags()?
        .into_iter()
        .filter(|(key, _)| !key.starts_with(UNTAGGED_PREFIX))
        .collect())
}

/// The names of one image (by manifest).
pub fn names_of(store: &Store, manifest: &Digest) -> Result<Vec<String>> {
    Ok(names(store)?
        .into_iter()
        .filter(|(_, m)| m == manifest)
        .map(|(k, _)| k)
        .collect())
}

/// The manifests of untagged images kept in the store.
pub fn untagged(store: &Store) -> Result<Vec<Digest>> {
    Ok(store
        .index()
        .tags()?
        .into_iter()
        .filter(|(key, _)| key.starts_with(UNTAGGED_PREFIX))
        .map(|(_, m)| m)
        .collect())
}

/// Points a name (a store key, see [`reference::normalize`]) at an image; the image stops
/// being untagged. An image the name leaves that has no other name is kept untagged, as
/// docker's dangling `<none>` image (`docker build -t`, `tag`, `pull` and `load` all do so).
pub fn name(store: &Store, key: &str, manifest: &Digest) -> Result<()> {
    let previous = store.index().tag(key)?;
    // A rebuild naming the same image again writes nothing, so it has nothing to sync at exit.
    if previous.as_ref() != Some(manifest) {
        store.index().put_tag(key, manifest)?;
        if let Some(previous) = previous {
            keep_untagged(store, &previous)?;
        }
    }
    let untagged = format!("{UNTAGGED_PREFIX}{manifest}");
    if store.index().tag(&untagged)?.is_some() {
        store.index().remove_tag(&untagged)?;
    }
    Ok(())
}

/// Keeps an image that has no name (unless it has one already).
pub fn keep_untagged(store: &Store, manifest: &Digest) -> Result<()> {
    let key = format!("{UNTAGGED_PREFIX}{manifest}");
    // Already kept (a rebuild): writing the same record again would cost a sync at exit.
    if store.index().tag(&key)?.as_ref() == Some(manifest) {
        return Ok(());
    }
    if names_of(store, manifest)?.is_empty() {
        store.index().put_tag(&key, manifest)?;
    }
    Ok(())
}

/// Forgets every name of an image (its data goes at the next prune); returns the names.
pub fn forget(store: &Store, manifest: &Digest) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for (key, m) in store.index().tags()? {
        if m == *manifest {
            store.index().remove_tag(&key)?;
            if !key.starts_with(UNTAGGED_PREFIX) {
                removed.push(key);
            }
        }
    }
    Ok(removed)
}

/// The uncompressed size of an image's layers (what `images` and `inspect` call its size).
pub fn size(store: &Store, image: &StoredImage) -> Result<u64> {
    let mut total = 0;
    for diff_id in &image.diff_ids {
        if let Some(record) = store.index().layer(diff_id)? {
            total += record.size;
        }
    }
    Ok(total)
}

/// Stores a new image from its config JSON; layers are (DiffID, uncompressed size).
pub fn store_image(store: &Store, config: &Value, layers: &[(Digest, u64)]) -> Result<StoredImage> {
    let config_bytes = serde_json::to_vec(config).expect("configs serialise");
    store_image_raw(store, &config_bytes, layers)
}

/// Stores an image whose config bytes must be kept exactly (a loaded image keeps its ID),
/// with a manifest of uncompressed layers (digest = DiffID).
pub(crate) fn store_image_raw(
    store: &Store,
    config_bytes: &[u8],
    layers: &[(Digest, u64)],
) -> Result<StoredImage> {
    let config: Value = serde_json::from_slice(config_bytes).map_err(|e| Error::Image {
        reason: format!("image config: {e}"),
    })?;
    let config_digest = store.blobs().put(config_bytes)?;
    let manifest_bytes = uncompressed_manifest(&config_digest, config_bytes.len() as u64, layers)?;
    let manifest_digest = store.blobs().put(&manifest_bytes)?;
    Ok(StoredImage {
        manifest: manifest_digest,
        id: config_digest,
        config,
        diff_ids: layers.iter().map(|(d, _)| *d).collect(),
    })
}

/// The manifest strata writes for a config and uncompressed layers (DiffID, size): the
/// layers' descriptors are their DiffIDs, since the tars are regenerated from snapshots.
pub(crate) fn uncompressed_manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(Digest, u64)],
) -> Result<Vec<u8>> {
    let layer_descs: Vec<Desc> = layers
        .iter()
        .map(|(diff_id, size)| Desc {
            media_type: manifest::layer_media_type(None).to_string(),
            digest: *diff_id,
            size: *size,
        })
        .collect();
    manifest::build_manifest(
        &Desc {
            media_type: "application/vnd.oci.image.config.v1+json".into(),
            digest: *config,
            size: config_size,
        },
        &layer_descs,
    )
}
