//! `strata pull`: an image from a registry into the store, the way `load` puts one there.
//!
//! The reference's manifest is fetched (an index resolves to the wanted platform), then the
//! config, then the layers — downloaded and unpacked into snapshots in parallel, each blob's
//! digest and each layer's DiffID checked. The manifest is kept as the registry served it, the
//! layer records remember the compressed blobs (a later push or save reuses them), and the
//! name is written last. Any failure undoes everything the pull stored.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use strata_cache::{Digest, Store};

use super::classify::registry_error;
use super::{ErrorKind, Registry, Remote, MAX_MANIFEST_SIZE};
use crate::archive::load::{store_plan, Written};
use crate::archive::plan::ImagePlan;
use crate::archive::spool::{compression_of, decompress, Unpacked};
use crate::error::{Error, Result};
use crate::image::config::diff_ids_of;
use crate::image::manifest::{self, host_platform, Desc, IndexEntry};
use crate::layer::extract_layer;

/// How to pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]` to pick from an index; `None` is this machine's (`linux/amd64`).
    pub platform: Option<String>,
    /// Layers downloaded and unpacked at once (0 = 3).
    pub parallel: usize,
}

/// What a pull brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The store key the image is named by (`127.0.0.1:5000/app:1`).
    pub key: String,
    /// The digest the reference resolved to (an index's, for a multi-platform image).
    pub digest: Digest,
    /// The image manifest's digest.
    pub manifest: Digest,
    /// The image ID (config digest).
    pub id: Digest,
    /// True when the store already held this image (nothing was downloaded).
    pub up_to_date: bool,
}

fn short(digest: &Digest) -> String {
    digest.hex()[..12].to_string()
}

/// Whether an index entry's `os/arch[/variant]` is what `wanted` asks for (`arm64` with no
/// variant is `arm64/v8`).
pub(super) fn platform_matches(entry: &str, wanted: &str) -> bool {
    let split = |p: &str| {
        let mut parts = p.split('/').map(str::to_ascii_lowercase);
        let os = parts.next().unwrap_or_default();
        let arch = parts.next().unwrap_or_default();
        let variant = parts.next();
        let variant = match (arch.as_str(), variant) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v,
        };
        (os, arch, variant)
    };
    let (os, arch, variant) = split(entry);
    let (w_os, w_arch, w_variant) = split(wanted);
    os == w_os && arch == w_arch && (w_variant.is_none() || variant == w_variant)
}

/// The entry of an index for a platform: an exact variant match first, else the first entry
/// of that os/arch. Attestations (`unknown/unknown`) never match.
pub(crate) fn pick_platform<'a>(entries: &'a [IndexEntry], wanted: &str) -> Option<&'a IndexEntry> {
    let candidates: Vec<&IndexEntry> = entries
        .iter()
        .filter(|e| {
            e.platform
                .as_deref()
                .is_some_and(|p| platform_matches(p, wanted))
        })
        .collect();
    candidates
        .iter()
        .find(|e| e.platform.as_deref() == Some(wanted))
        .or_else(|| candidates.first())
        .copied()
}

/// Pulls `remote` into the store and names it by its key; `progress` hears docker-like lines
/// (`abc123def456: Pull complete`).
pub fn pull(
    store: &Store,
    registry: &Registry,
    remote: &Remote,
    options: &PullOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Pulled> {
    let context = |error: Error| match error {
        Error::Registry { kind, reason } => Error::Registry {
            kind,
            reason: format!("pulling {remote}: {reason}"),
        },
        Error::Archive { reason } => Error::Registry {
            kind: ErrorKind::Other,
            reason: format!("pulling {remote}: {reason}"),
        },
        other => Error::Registry {
            kind: ErrorKind::Other,
            reason: format!("pulling {remote}: {other}"),
        },
    };
    let mut written = Written::default();
    match pull_inner(store, registry, remote, options, progress, &mut written) {
        Ok(pulled) => Ok(pulled),
        Err(error) => {
            written.undo(store);
            Err(context(error))
        }
    }
}

fn pull_inner(
    store: &Store,
    registry: &Registry,
    remote: &Remote,
    options: &PullOptions,
    progress: &(dyn Fn(&str) + Sync),
    written: &mut Written,
) -> Result<Pulled> {
    let wanted = options.platform.clone().unwrap_or_else(host_platform);
    progress(&format!(
        "{}: Pulling from {}",
        remote
            .tag
            .clone()
            .unwrap_or_else(|| remote.digest.map(|d| d.to_string()).unwrap_or_default()),
        remote.name()
    ));
    let top = registry.get_manifest(remote)?;
    let mut fetched = top.clone();
    let mut depth = 0;
    while manifest::is_index(&fetched.media_type) {
        depth += 1;
        if depth > 3 {
            return Err(registry_error(ErrorKind::Other, "indexes nested too deep"));
        }
        let entries = manifest::parse_index(&fetched.bytes)?;
        let entry =
            pick_platform(&entries, &wanted).ok_or_else(|| {
                let have: Vec<String> = entries
                    .iter()
                    .filter_map(|e| e.platform.clone())
                    .filter(|p| !p.starts_with("unknown"))
                    .collect();
                registry_error(
                    ErrorKind::NotFound,
                    format!(
                    "no matching manifest for {wanted} in the manifest list entries (it has {})",
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                ),
                )
            })?;
        fetched = registry.get_manifest(&remote.with_digest(entry.desc.digest))?;
    }
    let parsed = manifest::parse_manifest(&fetched.bytes)?;
    let manifest_digest = fetched.digest;
    let key = remote.key();

    // Already here, complete: only the name may be new.
    if let Ok(stored) = crate::image::load(store, &manifest_digest) {
        if stored.diff_ids.iter().all(|d| store.snapshots().exists(d)) {
            written.put_tag(store, &key, &manifest_digest)?;
            store.index().flush()?;
            progress(&format!("Digest: {}", top.digest));
            progress(&format!("Status: Image is up to date for {remote}"));
            return Ok(Pulled {
                key,
                digest: top.digest,
                manifest: manifest_digest,
                id: stored.id,
                up_to_date: true,
            });
        }
    }

    // The config first: it lists the DiffIDs the layers must have. It is read into memory,
    // so it has the manifests' size limit.
    if parsed.config.size > MAX_MANIFEST_SIZE {
        return Err(registry_error(
            ErrorKind::Other,
            format!(
                "config {} is {} bytes by its descriptor, over the {} MiB limit for image configs",
                parsed.config.digest,
                parsed.config.size,
                MAX_MANIFEST_SIZE >> 20
            ),
        ));
    }
    let config_existed = store.blobs().exists(&parsed.config.digest);
    let config =
        registry.fetch_blob_sized(store, remote, &parsed.config.digest, parsed.config.size)?;
    if !config_existed {
        written.blobs.insert(config.digest);
    }
    let config_json: serde_json::Value =
        serde_json::from_slice(&store.blobs().read(&config.digest)?).map_err(|e| {
            Error::Archive {
                reason: format!("config {}: {e}", config.digest),
            }
        })?;
    let diff_ids = diff_ids_of(&config_json);
    if diff_ids.len() != parsed.layers.len() {
        return Err(Error::Archive {
            reason: format!(
                "the config lists {} layers but the manifest {}",
                diff_ids.len(),
                parsed.layers.len()
            ),
        });
    }
    for layer in &parsed.layers {
        if manifest::layer_compression(&layer.media_type).is_none() {
            return Err(Error::Archive {
                reason: format!(
                    "layer {} has media type {}, which is not an image layer",
                    layer.digest, layer.media_type
                ),
            });
        }
    }

    // Layers: download and unpack in parallel; the store is updated in order afterwards.
    let mut jobs: Vec<(&Desc, Digest)> = Vec::new();
    for (layer, diff_id) in parsed.layers.iter().zip(&diff_ids) {
        if !jobs.iter().any(|(blob, _)| blob.digest == layer.digest) {
            jobs.push((layer, *diff_id));
        }
    }
    let results = super::jobs::run(
        &jobs,
        super::jobs::parallelism(options.parallel),
        |(blob, diff_id)| fetch_layer(store, registry, remote, blob, diff_id, progress),
    );
    let mut unpacked = BTreeMap::new();
    let mut first_error = None;
    for ((Desc { digest: blob, .. }, _), result) in jobs.iter().zip(results) {
        match result {
            Some(Ok((new_blob, prepared))) => {
                if new_blob {
                    written.blobs.insert(*blob);
                }
                if let Some(prepared) = prepared {
                    unpacked.insert(*blob, prepared);
                }
            }
            Some(Err(error)) => {
                // Blobs fetched by others still go with the undo.
                first_error.get_or_insert(error);
            }
            None => {}
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }

    // The manifest as served, then the image as `load` stores one; the name last.
    if !store.blobs().exists(&manifest_digest) {
        store.blobs().put(&fetched.bytes)?;
        written.blobs.insert(manifest_digest);
    }
    let plan = ImagePlan {
        manifest: Some(manifest_digest),
        config: config.digest,
        layers: parsed.layers.iter().map(|l| l.digest).collect(),
        names: vec![key.clone()],
    };
    let mut verified = BTreeMap::new();
    let stored = store_plan(store, &plan, &mut unpacked, &mut verified, written)?;
    written.put_tag(store, &key, &manifest_digest)?;
    store.index().flush()?;
    let mut sources = super::sources::BlobSources::open(store);
    for layer in &parsed.layers {
        sources.add(&layer.digest, &remote.location());
    }
    sources.save();
    progress(&format!("Digest: {}", top.digest));
    progress(&format!("Status: Downloaded newer image for {remote}"));
    Ok(Pulled {
        key,
        digest: top.digest,
        manifest: manifest_digest,
        id: stored.id,
        up_to_date: false,
    })
}

/// Whether a layer's blob is new to the store, and its unpacked snapshot-to-be.
type FetchedLayer = (bool, Option<Unpacked>);

/// Downloads one layer blob into the store and unpacks it into a scratch snapshot (unless
/// its snapshot exists: then `store_plan` checks the DiffID from the blob). Returns whether
/// the blob is new to the store.
fn fetch_layer(
    store: &Store,
    registry: &Registry,
    remote: &Remote,
    desc: &Desc,
    diff_id: &Digest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<FetchedLayer> {
    let blob = &desc.digest;
    let id = short(blob);
    let existed = store.blobs().exists(blob);
    if existed && store.snapshots().exists(diff_id) {
        progress(&format!("{id}: Already exists"));
        return Ok((false, None));
    }
    progress(&format!("{id}: Pulling fs layer"));
    let fetched = registry.fetch_blob_sized(store, remote, blob, desc.size);
    let new_blob = !existed && fetched.is_ok();
    let undo_blob = |error: Error| {
        if new_blob {
            let _ = store.blobs().remove(blob);
        }
        error
    };
    fetched?;
    progress(&format!("{id}: Download complete"));
    if store.snapshots().exists(diff_id) {
        progress(&format!("{id}: Pull complete"));
        return Ok((new_blob, None));
    }
    progress(&format!("{id}: Extracting"));
    let bad = |e: &dyn std::fmt::Display| Error::Archive {
        reason: format!("layer {blob}: {e}"),
    };
    let unpack = || -> Result<Unpacked> {
        let mut file = BufReader::with_capacity(1 << 20, store.blobs().open(blob)?);
        let head = file.fill_buf().map_err(|e| bad(&e))?;
        let compression = compression_of(head).unwrap_or("none");
        let reader = decompress(compression, file).map_err(|e| bad(&e))?;
        let dir = store.snapshots().scratch("pull")?;
        let report = extract_layer(reader, dir.path()).map_err(|e| bad(&e))?;
        Ok(Unpacked {
            dir,
            report,
            compression,
            canonical: false,
        })
    };
    let prepared = unpack().map_err(undo_blob)?;
    if prepared.report.diff_id != *diff_id {
        return Err(undo_blob(Error::Archive {
            reason: format!(
                "layer {blob} has DiffID {} but the config says {diff_id}",
                prepared.report.diff_id
            ),
        }));
    }
    progress(&format!("{id}: Pull complete"));
    Ok((new_blob, Some(prepared)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(platform: &str, n: u8) -> IndexEntry {
        IndexEntry {
            desc: Desc {
                media_type: manifest::OCI_MANIFEST.into(),
                digest: Digest::of(&[n]),
                size: 1,
            },
            platform: Some(platform.into()),
            annotations: Default::default(),
        }
    }

    #[test]
    fn indexes_resolve_to_the_wanted_platform() {
        let entries = vec![
            entry("unknown/unknown", 0),
            entry("linux/arm/v7", 1),
            entry("linux/arm64/v8", 2),
            entry("linux/amd64", 3),
            entry("windows/amd64", 4),
        ];
        let pick = |p| pick_platform(&entries, p).map(|e| e.desc.digest);
        assert_eq!(pick("linux/amd64"), Some(Digest::of(&[3])));
        assert_eq!(pick("linux/arm64"), Some(Digest::of(&[2])));
        assert_eq!(pick("linux/arm64/v8"), Some(Digest::of(&[2])));
        assert_eq!(pick("linux/arm/v7"), Some(Digest::of(&[1])));
        assert_eq!(pick("linux/arm/v6"), None);
        assert_eq!(pick("windows/amd64"), Some(Digest::of(&[4])));
        assert_eq!(pick("linux/s390x"), None);
    }
}
