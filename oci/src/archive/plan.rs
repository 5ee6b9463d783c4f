//! Which images a spooled archive holds: from `index.json` (OCI layouts, Docker 25+,
//! skopeo/buildah `oci-archive:`; nested indexes resolved to this machine's platform) and from
//! `manifest.json` (docker-archive, old and new). An image both describe is one image, with
//! the names of both.

use std::collections::BTreeMap;

use strata_cache::{Digest, Store};

use super::load::bad;
use super::spool::Spooled;
use crate::error::Result;
use crate::image::manifest::{self, Desc, IndexEntry};
use crate::image::reference::Reference;

/// One image to put into the store.
#[derive(Debug, Clone)]
pub(crate) struct ImagePlan {
    /// The manifest to keep as it is (one the archive carried), or `None` to write one.
    pub manifest: Option<Digest>,
    /// The config blob.
    pub config: Digest,
    /// Layer blobs (content digests), bottom first.
    pub layers: Vec<Digest>,
    /// Store keys to name it by.
    pub names: Vec<String>,
}

struct Resolver<'a> {
    store: &'a Store,
    spooled: &'a Spooled,
}

impl Resolver<'_> {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.spooled.files.get(name) {
            Some(digest) => Ok(Some(self.store.blobs().read(digest)?)),
            None => Ok(None),
        }
    }

    /// Checks that a descriptor's blob is in the archive (or already in the store) with the
    /// size the descriptor gives.
    fn check(&self, desc: &Desc) -> Result<()> {
        let size = match self.spooled.sizes.get(&desc.digest) {
            Some(size) => *size,
            None if self.store.blobs().exists(&desc.digest) => {
                self.store.blobs().size(&desc.digest)?
            }
            None => {
                return Err(bad(format!(
                    "blob {} is missing from the archive",
                    desc.digest
                )))
            }
        };
        if size != desc.size {
            return Err(bad(format!(
                "blob {} is {size} bytes but its descriptor says {}",
                desc.digest, desc.size
            )));
        }
        Ok(())
    }

    fn blob(&self, desc: &Desc) -> Result<Vec<u8>> {
        self.check(desc)?;
        Ok(self.store.blobs().read(&desc.digest)?)
    }

    /// The image manifest an index entry leads to (through nested indexes).
    fn manifest_of(&self, entry: &IndexEntry, depth: usize) -> Result<Digest> {
        if !manifest::is_index(&entry.desc.media_type) {
            self.check(&entry.desc)?;
            return Ok(entry.desc.digest);
        }
        if depth > 4 {
            return Err(bad("image indexes nested too deep"));
        }
        let nested = manifest::parse_index(&self.blob(&entry.desc)?)
            .map_err(|e| bad(format!("index {}: {e}", entry.desc.digest)))?;
        let chosen = choose_platform(&nested).ok_or_else(|| {
            let platforms: Vec<&str> = nested
                .iter()
                .filter_map(|e| e.platform.as_deref())
                .collect();
            bad(format!(
                "index {} has no image for {} (it has: {})",
                entry.desc.digest,
                manifest::host_platform(),
                platforms.join(", ")
            ))
        })?;
        self.manifest_of(chosen, depth + 1)
    }
}

/// The entry for this machine's platform; the only image when there is one and it names no
/// platform. Attestations (`unknown/unknown`) never count.
fn choose_platform(entries: &[IndexEntry]) -> Option<&IndexEntry> {
    let host = manifest::host_platform();
    let images: Vec<&IndexEntry> = entries
        .iter()
        .filter(|e| e.platform.as_deref() != Some("unknown/unknown"))
        .filter(|e| {
            e.annotations
                .get("vnd.docker.reference.type")
                .map(String::as_str)
                != Some("attestation-manifest")
        })
        .collect();
    images
        .iter()
        .find(|e| {
            e.platform
                .as_deref()
                .is_some_and(|p| p == host || p.starts_with(&format!("{host}/")))
        })
        .or_else(|| match images.as_slice() {
            [only] if only.platform.is_none() => Some(only),
            _ => None,
        })
        .copied()
}

fn key_of(name: &str) -> Result<String> {
    Reference::parse(name)
        .map(|r| r.key())
        .map_err(|e| bad(format!("image name: {e}")))
}

/// Names an index entry gives its image: containerd's full name, or OCI's `ref.name` when it
/// is a name of its own (skopeo/buildah `oci-archive:FILE:NAME`). Docker 25 writes a bare tag
/// in `ref.name` next to the full name, which then wins.
fn names_of(entry: &IndexEntry) -> Vec<String> {
    let annotation = |key: &str| entry.annotations.get(key).map(String::as_str);
    annotation("io.containerd.image.name")
        .or_else(|| annotation("org.opencontainers.image.ref.name"))
        .and_then(|name| Reference::parse(name).ok())
        .filter(|r| r.digest.is_none())
        .map(|r| r.key())
        .into_iter()
        .collect()
}

/// The images of the archive.
pub(super) fn plans(store: &Store, spooled: &Spooled) -> Result<Vec<ImagePlan>> {
    let resolver = Resolver { store, spooled };
    let mut plans: Vec<ImagePlan> = Vec::new();
    let index = resolver.read("index.json")?;
    let docker = resolver.read("manifest.json")?;
    if let Some(bytes) = &index {
        let entries =
            manifest::parse_index(bytes).map_err(|e| bad(format!("`index.json`: {e}")))?;
        for entry in &entries {
            let digest = resolver.manifest_of(entry, 0)?;
            let parsed = manifest::parse_manifest(&store.blobs().read(&digest)?)
                .map_err(|e| bad(format!("manifest {digest}: {e}")))?;
            resolver.check(&parsed.config)?;
            for layer in &parsed.layers {
                resolver.check(layer)?;
            }
            let names = names_of(entry);
            match plans.iter_mut().find(|p| p.manifest == Some(digest)) {
                Some(plan) => plan.names.extend(names),
                None => plans.push(ImagePlan {
                    manifest: Some(digest),
                    config: parsed.config.digest,
                    layers: parsed.layers.iter().map(|l| l.digest).collect(),
                    names,
                }),
            }
        }
    }
    if let Some(bytes) = &docker {
        let items: Vec<serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("`manifest.json` is not a list: {e}")))?;
        for item in &items {
            let file =
                |name: &str| -> Result<Digest> {
                    spooled.files.get(name).copied().ok_or_else(|| {
                        bad(format!("`{name}` is named in manifest.json but missing"))
                    })
                };
            let config_path = item["Config"]
                .as_str()
                .ok_or_else(|| bad("manifest.json entry without Config"))?;
            let config = file(config_path)?;
            // A legacy archive names the config by its digest: check it.
            if let Some(hex) = config_path.strip_suffix(".json") {
                if let Ok(named) = Digest::from_hex(hex) {
                    if named != config {
                        return Err(bad(format!("`{config_path}` does not match its digest")));
                    }
                }
            }
            let layers = item["Layers"]
                .as_array()
                .ok_or_else(|| bad("manifest.json entry without Layers"))?
                .iter()
                .map(|l| {
                    l.as_str()
                        .ok_or_else(|| bad("manifest.json: a layer is not a path"))
                        .and_then(file)
                })
                .collect::<Result<Vec<_>>>()?;
            let names = item["RepoTags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    t.as_str()
                        .ok_or_else(|| bad("manifest.json: a RepoTag is not a string"))
                        .and_then(key_of)
                })
                .collect::<Result<Vec<_>>>()?;
            match plans
                .iter_mut()
                .find(|p| p.config == config && p.layers.len() == layers.len())
            {
                Some(plan) => plan.names.extend(names),
                None => plans.push(ImagePlan {
                    manifest: None,
                    config,
                    layers,
                    names,
                }),
            }
        }
    }
    if index.is_none() && docker.is_none() {
        return Err(bad(if spooled.files.contains_key("repositories") {
            "only a `repositories` file: docker's pre-1.10 format is not supported"
        } else {
            "neither manifest.json nor index.json found: not an image archive"
        }));
    }
    if plans.is_empty() {
        return Err(bad("the archive holds no images"));
    }
    let mut seen = BTreeMap::new();
    for plan in &mut plans {
        let mut unique = Vec::new();
        for name in plan.names.drain(..) {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        plan.names = unique;
        for name in &plan.names {
            if let Some(other) = seen.insert(name.clone(), plan.config) {
                if other != plan.config {
                    return Err(bad(format!("`{name}` names two different images")));
                }
            }
        }
    }
    Ok(plans)
}
