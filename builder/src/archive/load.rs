//! `strata load`: image tarballs into the store.
//!
//! Reads what `strata save` writes, what `docker save` writes (Docker 25+ OCI-style and the
//! legacy per-layer-directory format), plain OCI archives (`skopeo copy … oci-archive:`), and
//! gzip- or zstd-compressed tarballs. A tar read from stdin can be read only once and its
//! entries come in any order, so every file is spooled into the blob store as it arrives
//! (verified against its name when the name is a digest), and the images are put together at
//! the end. Every layer is unpacked into a snapshot and its DiffID checked against the config.
//! Anything hostile or inconsistent fails the whole load, and what the load wrote is removed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use strata_cache::{BlobRef, Digest, LayerRecord, Store};

use crate::error::{Error, Result};
use crate::image::{self, reference::normalize};
use crate::layer::{extract_layer, write_layer, LayerOptions};

fn bad(reason: impl Into<String>) -> Error {
    Error::Image {
        reason: format!("invalid image archive: {}", reason.into()),
    }
}

/// What a load brought in: the names (or IDs) of the images.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<String>> {
    let mut written = Written::default();
    match load_inner(store, input, &mut written) {
        Ok(loaded) => {
            written.remove_unreferenced(store, &loaded.1);
            Ok(loaded.0)
        }
        Err(error) => {
            written.remove_all(store);
            Err(error)
        }
    }
}

/// What this load added, to undo on failure and to tidy on success.
#[derive(Default)]
struct Written {
    blobs: BTreeSet<Digest>,
    snapshots: BTreeSet<Digest>,
}

impl Written {
    fn remove_all(&self, store: &Store) {
        for digest in &self.blobs {
            let _ = store.blobs().remove(digest);
        }
        for diff_id in &self.snapshots {
            let _ = store.snapshots().remove(diff_id);
            let _ = store.index().remove_layer(diff_id);
        }
    }

    /// Spooled files that are not blobs of an image (manifest.json, legacy JSON…) go.
    fn remove_unreferenced(&self, store: &Store, keep: &BTreeSet<Digest>) {
        for digest in self.blobs.difference(keep) {
            let _ = store.blobs().remove(digest);
        }
    }
}

fn open_decompressed<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let magic = buffered
        .fill_buf()
        .map_err(|e| bad(format!("reading: {e}")))?
        .to_vec();
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| bad(e.to_string()))?,
        )
    } else {
        Box::new(buffered)
    })
}

fn clean(path: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(bad(format!(
                    "entry `{}` escapes the archive",
                    path.display()
                )))
            }
        }
    }
    Ok(parts.join("/"))
}

fn load_inner(
    store: &Store,
    input: impl Read,
    written: &mut Written,
) -> Result<(Vec<String>, BTreeSet<Digest>)> {
    let reader = open_decompressed(input)?;
    let mut archive = tar::Archive::new(reader);
    let mut files: BTreeMap<String, Digest> = BTreeMap::new();
    // Layers unpacked while they streamed in, by blob digest.
    let mut unpacked: BTreeMap<Digest, Unpacked> = BTreeMap::new();
    // Every digest the archive holds, stored as a blob or not.
    let mut present: BTreeSet<Digest> = BTreeSet::new();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(format!("reading: {e}")))?;
        let path = clean(&entry.path().map_err(|e| bad(e.to_string()))?)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {}
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let expected = path
                    .strip_prefix("blobs/sha256/")
                    .map(Digest::from_hex)
                    .transpose()
                    .map_err(|_| bad(format!("`{path}` is not named by a sha256 digest")))?;
                let existed = expected.is_some_and(|d| store.blobs().exists(&d));
                let digest = if existed {
                    io::copy(&mut entry, &mut io::sink())
                        .map_err(|e| bad(format!("reading `{path}`: {e}")))?;
                    present.insert(expected.expect("checked"));
                    expected.expect("checked")
                } else {
                    let mut writer = store.blobs().writer()?.without_writeback();
                    let prepared = spool_and_unpack(store, &mut entry, &mut writer)
                        .map_err(|e| bad(format!("reading `{path}`: {e}")))?;
                    let canonical = prepared.as_ref().is_some_and(|p| p.canonical);
                    let digest = if canonical {
                        // strata regenerates this exact tar from the snapshot: no blob needed.
                        let (digest, _) = writer.discard()?;
                        if expected.is_some_and(|e| e != digest) {
                            return Err(bad(format!("`{path}` does not match its digest")));
                        }
                        digest
                    } else {
                        let (digest, _) = writer.commit(expected).map_err(|e| match e {
                            strata_cache::Error::DigestMismatch { .. } => {
                                bad(format!("`{path}` does not match its digest: {e}"))
                            }
                            other => other.into(),
                        })?;
                        written.blobs.insert(digest);
                        digest
                    };
                    present.insert(digest);
                    if let Some(prepared) = prepared {
                        unpacked.insert(digest, prepared);
                    }
                    digest
                };
                files.insert(path, digest);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad(e.to_string()))?
                    .ok_or_else(|| bad(format!("link `{path}` has no target")))?;
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    Path::new(&path)
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                let joined = normalize_join(&base, &target).ok_or_else(|| {
                    bad(format!(
                        "link `{path}` points outside the archive: `{}`",
                        target.display()
                    ))
                })?;
                links.insert(path, joined);
            }
            other => {
                return Err(bad(format!(
                    "entry `{path}` has an unsupported type {other:?}"
                )))
            }
        }
    }
    for (link, target) in &links {
        let digest = files.get(target).copied().ok_or_else(|| {
            bad(format!(
                "link `{link}` points at `{target}`, which the archive lacks"
            ))
        })?;
        files.insert(link.clone(), digest);
    }
    let read_json = |name: &str| -> Result<Option<Value>> {
        match files.get(name) {
            None => Ok(None),
            Some(digest) => {
                let bytes = store.blobs().read(digest)?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| bad(format!("`{name}`: {e}")))
            }
        }
    };
    let mut plans: Vec<ImagePlan> = Vec::new();
    if let Some(manifest) = read_json("manifest.json")? {
        for item in manifest
            .as_array()
            .ok_or_else(|| bad("`manifest.json` is not a list"))?
        {
            let file = |name: &str| -> Result<Digest> {
                files
                    .get(name)
                    .copied()
                    .ok_or_else(|| bad(format!("`{name}` is named in manifest.json but missing")))
            };
            let config = file(
                item["Config"]
                    .as_str()
                    .ok_or_else(|| bad("manifest.json entry without Config"))?,
            )?;
            let layers = item["Layers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    l.as_str()
                        .ok_or_else(|| bad("bad Layers entry"))
                        .and_then(file)
                })
                .collect::<Result<Vec<_>>>()?;
            let names = item["RepoTags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(normalize))
                .collect();
            plans.push(ImagePlan {
                config,
                layers,
                names,
            });
        }
    } else if let Some(index) = read_json("index.json")? {
        for descriptor in index["manifests"].as_array().into_iter().flatten() {
            let digest: Digest = descriptor["digest"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| bad("index.json entry without a digest"))?;
            if !store.blobs().exists(&digest) {
                return Err(bad(format!(
                    "manifest {digest} is missing from the archive"
                )));
            }
            let manifest: Value = serde_json::from_slice(&store.blobs().read(&digest)?)
                .map_err(|e| bad(format!("manifest {digest}: {e}")))?;
            let digest_of = |v: &Value| -> Result<Digest> {
                let d: Digest = v["digest"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| bad("descriptor without a digest"))?;
                if present.contains(&d) || store.blobs().exists(&d) {
                    Ok(d)
                } else {
                    Err(bad(format!("blob {d} is missing from the archive")))
                }
            };
            let config = digest_of(&manifest["config"])?;
            let layers = manifest["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(digest_of)
                .collect::<Result<Vec<_>>>()?;
            let annotations = &descriptor["annotations"];
            let name = annotations["io.containerd.image.name"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    annotations["org.opencontainers.image.ref.name"]
                        .as_str()
                        .filter(|r| r.contains(':') || r.contains('/') || !r.is_empty())
                        .map(str::to_string)
                });
            plans.push(ImagePlan {
                config,
                layers,
                names: name.map(|n| normalize(&n)).into_iter().collect(),
            });
        }
    } else {
        return Err(bad(
            "neither manifest.json nor index.json found: not an image archive",
        ));
    }
    if plans.is_empty() {
        return Err(bad("the archive holds no images"));
    }
    let mut loaded = Vec::new();
    let mut keep = BTreeSet::new();
    for plan in plans {
        let config_bytes = store.blobs().read(&plan.config)?;
        let config: Value =
            serde_json::from_slice(&config_bytes).map_err(|e| bad(format!("image config: {e}")))?;
        let diff_ids = image::config::diff_ids_of(&config);
        if diff_ids.len() != plan.layers.len() {
            return Err(bad(format!(
                "the config lists {} layers but the manifest {}",
                diff_ids.len(),
                plan.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (blob, diff_id) in plan.layers.iter().zip(&diff_ids) {
            let size = import_layer(store, blob, diff_id, unpacked.remove(blob), written)?;
            layers.push((*diff_id, size));
            keep.insert(*blob);
        }
        let stored = image::store_image_raw(store, &config_bytes, &layers)?;
        keep.insert(stored.id);
        keep.insert(stored.manifest);
        if plan.names.is_empty() {
            loaded.push(stored.id.to_string());
        }
        for name in plan.names {
            store.index().put_tag(&name, &stored.manifest)?;
            loaded.push(name);
        }
    }
    store.index().flush()?;
    Ok((loaded, keep))
}

struct ImagePlan {
    config: Digest,
    layers: Vec<Digest>,
    names: Vec<String>,
}

/// `a/b` + `../c` → `a/c`; `None` if it climbs out.
fn normalize_join(base: &Path, target: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if !target.is_absolute() {
        parts.extend(base.components().filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        }));
    } else {
        return None;
    }
    for component in target.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// A layer unpacked into a scratch dir while its blob was being spooled.
struct Unpacked {
    dir: strata_cache::ScratchDir,
    report: crate::layer::ExtractReport,
    compression: &'static str,
    /// An uncompressed tar exactly as strata writes it from the snapshot: no blob is kept.
    canonical: bool,
}

/// Copies an archive entry into its blob writer and, when the entry looks like a layer (a tar,
/// or gzip/zstd), unpacks it at the same time on another thread: spooling and unpacking then
/// overlap instead of reading every layer twice. A failed speculative unpack is dropped; the
/// layer is unpacked again from its blob if an image uses it, and fails there if it must.
fn spool_and_unpack(
    store: &Store,
    entry: &mut impl Read,
    writer: &mut strata_cache::BlobWriter,
) -> io::Result<Option<Unpacked>> {
    use std::io::Write;
    let mut head = vec![0u8; 512];
    let mut filled = 0;
    while filled < head.len() {
        let n = entry.read(&mut head[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    writer.write_all(&head)?;
    let compression = if head.starts_with(&[0x1f, 0x8b]) {
        "gzip"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "zstd"
    } else if head.len() == 512 && &head[257..262] == b"ustar" {
        "none"
    } else {
        io::copy(entry, writer)?;
        return Ok(None);
    };
    let Ok(dir) = store.snapshots().scratch("load") else {
        io::copy(entry, writer)?;
        return Ok(None);
    };
    let (reader, mut pipe) = io::pipe()?;
    let target = dir.path().to_path_buf();
    let report = std::thread::scope(
        |scope| -> io::Result<Option<(crate::layer::ExtractReport, bool)>> {
            let unpacker = scope.spawn(move || {
                let reader = BufReader::with_capacity(1 << 20, reader);
                let mut stream: Box<dyn Read> = match compression {
                    "gzip" => Box::new(flate2::read::MultiGzDecoder::new(reader)),
                    "zstd" => match zstd::stream::read::Decoder::with_buffer(reader) {
                        Ok(d) => Box::new(d),
                        Err(_) => return None,
                    },
                    _ => Box::new(reader),
                };
                let result = extract_layer(&mut stream, &target).ok();
                // Drain so the spooling side never blocks on a full pipe.
                let _ = io::copy(&mut stream, &mut io::sink());
                let report = result?;
                let canonical = compression == "none"
                    && write_layer(&target, &LayerOptions::default(), &mut io::sink())
                        .is_ok_and(|regenerated| regenerated.diff_id == report.diff_id);
                Some((report, canonical))
            });
            let mut pipe_open = true;
            let mut feed = |bytes: &[u8]| {
                if pipe_open && pipe.write_all(bytes).is_err() {
                    pipe_open = false;
                }
            };
            feed(&head);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = entry.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                writer.write_all(&buf[..n])?;
                feed(&buf[..n]);
            }
            drop(pipe);
            Ok(unpacker.join().unwrap_or(None))
        },
    )?;
    Ok(report.map(|(report, canonical)| Unpacked {
        dir,
        report,
        compression,
        canonical,
    }))
}

/// Unpacks one layer blob into its snapshot (unless already there, or unpacked while it
/// streamed in), checks the DiffID and records the layer; returns its uncompressed size.
fn import_layer(
    store: &Store,
    blob: &Digest,
    diff_id: &Digest,
    prepared: Option<Unpacked>,
    written: &mut Written,
) -> Result<u64> {
    if let Some(prepared) = prepared {
        if prepared.report.diff_id != *diff_id {
            return Err(bad(format!(
                "layer {blob} has DiffID {} but the config says {diff_id}",
                prepared.report.diff_id
            )));
        }
        if !store.snapshots().exists(diff_id) {
            store.snapshots().install(prepared.dir, diff_id)?;
            written.snapshots.insert(*diff_id);
        }
        let kept = (!prepared.canonical).then_some(prepared.compression);
        return record_layer(store, blob, diff_id, kept, prepared.report.size);
    }
    let file = BufReader::new(store.blobs().open(blob)?);
    let mut magic_reader = file;
    let magic = magic_reader
        .fill_buf()
        .map_err(|e| bad(e.to_string()))?
        .to_vec();
    let (compression, reader): (&str, Box<dyn Read>) = if magic.starts_with(&[0x1f, 0x8b]) {
        (
            "gzip",
            Box::new(flate2::read::MultiGzDecoder::new(magic_reader)),
        )
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        (
            "zstd",
            Box::new(
                zstd::stream::read::Decoder::with_buffer(magic_reader)
                    .map_err(|e| bad(e.to_string()))?,
            ),
        )
    } else {
        ("none", Box::new(magic_reader))
    };
    let report = if store.snapshots().exists(diff_id) {
        let mut hasher = strata_cache::Hasher::new();
        let mut reader = reader;
        io::copy(&mut reader, &mut hasher).map_err(|e| bad(format!("layer {blob}: {e}")))?;
        let size = hasher.len();
        crate::layer::ExtractReport {
            diff_id: hasher.finish(),
            size,
        }
    } else {
        let scratch = store.snapshots().scratch("load")?;
        let report =
            extract_layer(reader, scratch.path()).map_err(|e| bad(format!("layer {blob}: {e}")))?;
        if report.diff_id == *diff_id {
            store.snapshots().install(scratch, diff_id)?;
            written.snapshots.insert(*diff_id);
        }
        report
    };
    if report.diff_id != *diff_id {
        return Err(bad(format!(
            "layer {blob} has DiffID {} but the config says {diff_id}",
            report.diff_id
        )));
    }
    record_layer(store, blob, diff_id, Some(compression), report.size)
}

fn record_layer(
    store: &Store,
    blob: &Digest,
    diff_id: &Digest,
    compression: Option<&str>,
    size: u64,
) -> Result<u64> {
    let mut record = store.index().layer(diff_id)?.unwrap_or(LayerRecord {
        diff_id: *diff_id,
        size,
        blobs: BTreeMap::new(),
        created: strata_cache::now(),
        source_date_epoch: None,
    });
    if let Some(compression) = compression {
        let blob_size = store.blobs().size(blob)?;
        record.blobs.insert(
            compression.to_string(),
            BlobRef {
                digest: *blob,
                size: blob_size,
            },
        );
    }
    store.index().put_layer(&record)?;
    Ok(size)
}
