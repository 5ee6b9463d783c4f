//! `strata save`: one tarball that is an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) and a docker-archive (`manifest.json`, `repositories`) at once, as Docker
//! 25+ and BuildKit's `type=docker` exporter write them. Streams: layers are written straight
//! from their blob or snapshot into the output; nothing is copied to memory or a temp file.
//! The archive's own headers are fixed (mtime 0, root-owned, 0644), so the same images always
//! give the same bytes.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::str::FromStr;

use oci_spec::image::{DescriptorBuilder, ImageManifestBuilder, MediaType};
use serde_json::{json, Value};
use strata_cache::{Digest, Store};

use super::layers::{compressed_blob, uncompressed_layer};
use crate::error::{Error, Result};
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

fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    oci_spec::image::Digest::from_str(&digest.to_string()).expect("valid digest")
}

/// Writes `images` (each with the names it is saved under) as one tarball into `out`.
pub fn save(
    store: &Store,
    images: &[(Vec<String>, StoredImage)],
    options: &SaveOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut index_manifests = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories = serde_json::Map::new();
    for (names, image) in images {
        let mut layer_descriptors = Vec::new();
        let mut layer_paths = Vec::new();
        for diff_id in &image.diff_ids {
            let record = store.index().layer(diff_id)?.ok_or_else(|| Error::Image {
                reason: format!("layer {diff_id} has no record in the store"),
            })?;
            let (digest, size, media) = match options.compression {
                None => (record.diff_id, record.size, MediaType::ImageLayer),
                Some(compression) => {
                    let blob = compressed_blob(store, diff_id, compression)?;
                    let media = match compression {
                        Compression::Gzip => MediaType::ImageLayerGzip,
                        Compression::Zstd => MediaType::ImageLayerZstd,
                    };
                    (blob.digest, blob.size, media)
                }
            };
            let path = format!("blobs/sha256/{}", digest.hex());
            if written.insert(digest) {
                write_header(out, &entry(&path, size)).map_err(io_err)?;
                match options.compression {
                    None => uncompressed_layer(store, &record, out)?,
                    Some(_) => {
                        let mut blob = store.blobs().open(&digest)?;
                        io::copy(&mut blob, out).map_err(io_err)?;
                    }
                }
                pad(out, size).map_err(io_err)?;
            }
            layer_paths.push(path);
            layer_descriptors.push(
                DescriptorBuilder::default()
                    .media_type(media)
                    .digest(oci_digest(&digest))
                    .size(size)
                    .build()
                    .map_err(|e| Error::Image {
                        reason: e.to_string(),
                    })?,
            );
        }
        let config_bytes = store.blobs().read(&image.id)?;
        let config_path = format!("blobs/sha256/{}", image.id.hex());
        if written.insert(image.id) {
            write_bytes(out, &config_path, &config_bytes)?;
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(
                DescriptorBuilder::default()
                    .media_type(MediaType::ImageConfig)
                    .digest(oci_digest(&image.id))
                    .size(config_bytes.len() as u64)
                    .build()
                    .map_err(|e| Error::Image {
                        reason: e.to_string(),
                    })?,
            )
            .layers(layer_descriptors)
            .build()
            .map_err(|e| Error::Image {
                reason: e.to_string(),
            })?;
        let manifest_bytes =
            serde_json::to_vec(&serde_json::to_value(&manifest).expect("serialises"))
                .expect("serialises");
        let manifest_digest = Digest::of(&manifest_bytes);
        if written.insert(manifest_digest) {
            write_bytes(
                out,
                &format!("blobs/sha256/{}", manifest_digest.hex()),
                &manifest_bytes,
            )?;
        }
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest.to_string(),
                "size": manifest_bytes.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if names.is_empty() {
            index_manifests.push(descriptor(None));
        }
        for name in names {
            let (repo, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
            index_manifests.push(descriptor(Some(json!({
                "io.containerd.image.name": full_name(name),
                "org.opencontainers.image.ref.name": tag,
            }))));
            let tags = repositories
                .entry(repo.to_string())
                .or_insert_with(|| json!({}));
            tags[tag] = json!(image.id.hex());
        }
        docker_manifest.push(json!({
            "Config": config_path,
            "RepoTags": names,
            "Layers": layer_paths,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index_manifests,
    });
    write_bytes(
        out,
        "index.json",
        &serde_json::to_vec(&index).expect("serialises"),
    )?;
    write_bytes(
        out,
        "manifest.json",
        &serde_json::to_vec(&docker_manifest).expect("serialises"),
    )?;
    write_bytes(out, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if !repositories.is_empty() {
        write_bytes(
            out,
            "repositories",
            &serde_json::to_vec(&repositories).expect("serialises"),
        )?;
    }
    finish(out).map_err(io_err)?;
    out.flush().map_err(io_err)
}

/// `app:1` → `docker.io/library/app:1`, as containerd names images.
fn full_name(name: &str) -> String {
    let first = name.split('/').next().unwrap_or(name);
    if name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    }
}
