//! `strata save`: one tarball that is an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) and a docker-archive (`manifest.json`, `repositories`) at once, as Docker
//! 25+ and BuildKit's `type=docker` exporter write them. Several images share their blobs.
//!
//! Streams: layers go straight from their blob or snapshot into the output; nothing is copied
//! to memory or a temp file (a compressed form, made once, is kept in the store as the layer's
//! blob for that compression). The archive's own headers are fixed (mtime 0, root-owned,
//! 0644), so the same images always give the same bytes.
//!
//! An image is written with the manifest it is stored with when its layers are already in the
//! requested form (a built image saved uncompressed, a loaded image in its own compression);
//! otherwise with a new OCI manifest over the requested form of each layer.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{json, Value};
use strata_cache::{Digest, Store};

use super::layers::{compressed_blob, uncompressed_layer};
use crate::error::{Error, Result};
use crate::image::manifest::{self, Desc};
use crate::image::reference::{full_name, split_key};
use crate::image::StoredImage;
use crate::layer::tar_format::{finish, pad, write_header, Entry, EntryType};
use crate::layer::Compression;

/// How to save.
#[derive(Debug, Clone, Copy, Default)]
pub struct SaveOptions {
    /// Layer compression; `None` writes plain tars, as `docker save`.
    pub compression: Option<Compression>,
}

fn entry(path: &str, size: u64) -> Entry {
    Entry {
        path: path.to_string(),
        kind: EntryType::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size,
        mtime: 0,
        link: String::new(),
        dev: (0, 0),
        xattrs: Vec::new(),
    }
}

fn io_err(source: io::Error) -> Error {
    Error::Io {
        path: "<output>".into(),
        source,
    }
}

fn write_bytes(out: &mut dyn Write, path: &str, bytes: &[u8]) -> Result<()> {
    write_header(out, &entry(path, bytes.len() as u64)).map_err(io_err)?;
    out.write_all(bytes).map_err(io_err)?;
    pad(out, bytes.len() as u64).map_err(io_err)
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Where a layer's bytes come from.
pub(crate) enum Source {
    /// A blob in the store, copied as is.
    Blob(Digest),
    /// The uncompressed tar, from the layer's blob or regenerated from its snapshot.
    Tar(Digest),
}

/// What is written for one image.
pub(crate) struct Plan {
    pub(crate) manifest_bytes: Vec<u8>,
    pub(crate) manifest_media_type: String,
    pub(crate) layers: Vec<(Desc, Source)>,
}

pub(crate) fn plan(
    store: &Store,
    image: &StoredImage,
    compression: Option<Compression>,
) -> Result<Plan> {
    let stored_bytes = store.blobs().read(&image.manifest)?;
    let stored = manifest::parse_manifest(&stored_bytes)?;
    let usable = |layer: &Desc, diff_id: &Digest| {
        manifest::layer_compression(&layer.media_type) == Some(compression)
            && (store.blobs().exists(&layer.digest)
                || (compression.is_none() && layer.digest == *diff_id))
    };
    if stored.layers.len() == image.diff_ids.len()
        && stored.config.digest == image.id
        && stored
            .layers
            .iter()
            .zip(&image.diff_ids)
            .all(|(l, d)| usable(l, d))
    {
        let layers = stored
            .layers
            .iter()
            .zip(&image.diff_ids)
            .map(|(layer, diff_id)| {
                let source = if store.blobs().exists(&layer.digest) {
                    Source::Blob(layer.digest)
                } else {
                    Source::Tar(*diff_id)
                };
                (layer.clone(), source)
            })
            .collect();
        return Ok(Plan {
            manifest_bytes: stored_bytes,
            manifest_media_type: stored.media_type,
            layers,
        });
    }
    let mut layers = Vec::new();
    for diff_id in &image.diff_ids {
        let record = store.index().layer(diff_id)?.ok_or_else(|| Error::Image {
            reason: format!("layer {diff_id} has no record in the store"),
        })?;
        let media_type = manifest::layer_media_type(compression).to_string();
        layers.push(match compression {
            None => (
                Desc {
                    media_type,
                    digest: record.diff_id,
                    size: record.size,
                },
                Source::Tar(*diff_id),
            ),
            Some(c) => {
                let blob = compressed_blob(store, diff_id, c)?;
                (
                    Desc {
                        media_type,
                        digest: blob.digest,
                        size: blob.size,
                    },
                    Source::Blob(blob.digest),
                )
            }
        });
    }
    let config = Desc {
        media_type: "application/vnd.oci.image.config.v1+json".into(),
        digest: image.id,
        size: store.blobs().size(&image.id)?,
    };
    let descs: Vec<Desc> = layers.iter().map(|(d, _)| d.clone()).collect();
    Ok(Plan {
        manifest_bytes: manifest::build_manifest(&config, &descs)?,
        manifest_media_type: manifest::OCI_MANIFEST.into(),
        layers,
    })
}

fn write_layer_entry(
    store: &Store,
    desc: &Desc,
    source: &Source,
    out: &mut dyn Write,
) -> Result<()> {
    write_header(out, &entry(&blob_path(&desc.digest), desc.size)).map_err(io_err)?;
    match source {
        Source::Blob(digest) => {
            let mut blob = store.blobs().reader(digest)?;
            let copied = io::copy(&mut blob, out).map_err(|e| Error::Io {
                path: store.blobs().path(digest),
                source: e,
            })?;
            if copied != desc.size {
                return Err(Error::Image {
                    reason: format!(
                        "blob {digest} is {copied} bytes but its manifest says {}",
                        desc.size
                    ),
                });
            }
        }
        Source::Tar(diff_id) => {
            let record = store.index().layer(diff_id)?.ok_or_else(|| Error::Image {
                reason: format!("layer {diff_id} has no record in the store"),
            })?;
            uncompressed_layer(store, &record, out)?;
        }
    }
    pad(out, desc.size).map_err(io_err)
}

/// Writes `images` (each with the names it is saved under) as one tarball into `out`. The
/// same image asked for twice is written once, with all its names.
pub fn save(
    store: &Store,
    images: &[(Vec<String>, StoredImage)],
    options: &SaveOptions,
    out: &mut dyn Write,
) -> Result<()> {
    // Merge repeats of one image, keeping the order they were asked in.
    let mut merged: Vec<(Vec<String>, &StoredImage)> = Vec::new();
    for (names, image) in images {
        match merged
            .iter_mut()
            .find(|(_, i)| i.manifest == image.manifest)
        {
            Some((existing, _)) => {
                for name in names {
                    if !existing.contains(name) {
                        existing.push(name.clone());
                    }
                }
            }
            None => merged.push((names.clone(), image)),
        }
    }
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut index_manifests = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (names, image) in merged {
        let plan = plan(store, image, options.compression)?;
        let mut layer_paths = Vec::new();
        for (desc, source) in &plan.layers {
            if written.insert(desc.digest) {
                write_layer_entry(store, desc, source, out)?;
            }
            layer_paths.push(blob_path(&desc.digest));
        }
        if written.insert(image.id) {
            let config_bytes = store.blobs().read(&image.id)?;
            write_bytes(out, &blob_path(&image.id), &config_bytes)?;
        }
        let manifest_digest = Digest::of(&plan.manifest_bytes);
        if written.insert(manifest_digest) {
            write_bytes(out, &blob_path(&manifest_digest), &plan.manifest_bytes)?;
        }
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": plan.manifest_media_type,
                "digest": manifest_digest.to_string(),
                "size": plan.manifest_bytes.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if names.is_empty() {
            index_manifests.push(descriptor(None));
        }
        for name in &names {
            let (repo, tag) = split_key(name);
            index_manifests.push(descriptor(Some(json!({
                "io.containerd.image.name": full_name(name),
                "org.opencontainers.image.ref.name": tag,
            }))));
            repositories
                .entry(repo.to_string())
                .or_default()
                .insert(tag.to_string(), image.id.hex());
        }
        docker_manifest.push(json!({
            "Config": blob_path(&image.id),
            "RepoTags": names,
            "Layers": layer_paths,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": index_manifests,
    });
    let to_bytes = |v: &Value| serde_json::to_vec(v).expect("JSON values serialise");
    write_bytes(out, "index.json", &to_bytes(&index))?;
    write_bytes(out, "manifest.json", &to_bytes(&json!(docker_manifest)))?;
    write_bytes(out, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if !repositories.is_empty() {
        write_bytes(out, "repositories", &to_bytes(&json!(repositories)))?;
    }
    finish(out).map_err(io_err)?;
    out.flush().map_err(io_err)
}
