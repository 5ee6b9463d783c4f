//! One image from an OCI image layout directory into the store: what
//! `--build-context NAME=oci-layout://DIR[:TAG][@DIGEST]` reads (a layout written by
//! `skopeo copy … oci:DIR:TAG`, `buildx build -o type=oci,tar=false`, `oras`).
//!
//! The image is picked as buildx picks it: by digest when one is given, else the index entry
//! whose `org.opencontainers.image.ref.name` is the tag (`latest` by default), else the only
//! entry; an index resolves to the wanted platform. Its blobs are copied into the store
//! (every digest checked) and its layers unpacked as `pull` does, each DiffID checked. The
//! image is kept unnamed (`<none>`, found by its ID); any failure undoes what was stored.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use strata_cache::{Digest, Store};

use super::load::{bad, store_plan, Written};
use super::plan::ImagePlan;
use crate::error::{Error, Result};
use crate::image::manifest::{self, host_platform, IndexEntry};
use crate::image::{self, StoredImage, UNTAGGED_PREFIX};
use crate::registry::{pick_platform, MAX_MANIFEST_SIZE};

/// The annotation that names an index entry's tag in an OCI layout.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An image in a layout directory, as buildx's `oci-layout://` value names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    /// The layout directory.
    pub dir: PathBuf,
    /// The tag looked up in `index.json` (`latest` when none is given).
    pub tag: String,
    /// The manifest or index digest, which wins over the tag.
    pub digest: Option<Digest>,
}

impl LayoutRef {
    /// Reads `DIR[:TAG][@DIGEST]` (what follows `oci-layout://`) as buildx does: the digest
    /// after the first `@`, the tag after the first `:` before it.
    pub fn parse(text: &str) -> Result<LayoutRef> {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let parsed = digest.parse::<Digest>().map_err(|e| {
                    bad(format!(
                        "oci-layout `{text}`: invalid digest `{digest}`: {e}"
                    ))
                })?;
                (rest, Some(parsed))
            }
            None => (text, None),
        };
        let (dir, tag) = rest.split_once(':').unwrap_or((rest, "latest"));
        if dir.is_empty() {
            return Err(bad(format!("oci-layout `{text}`: the directory is empty")));
        }
        Ok(LayoutRef {
            dir: dir.into(),
            tag: tag.to_string(),
            digest,
        })
    }
}

/// Loads the image `layout` names, for `platform` (`os/arch[/variant]`, this machine's when
/// `None`) if it is an index, and keeps it unnamed.
pub fn load_layout(
    store: &Store,
    layout: &LayoutRef,
    platform: Option<&str>,
) -> Result<StoredImage> {
    let mut written = Written::default();
    match load_inner(store, layout, platform, &mut written) {
        Ok(image) => Ok(image),
        Err(error) => {
            written.undo(store);
            Err(error)
        }
    }
}

fn load_inner(
    store: &Store,
    layout: &LayoutRef,
    platform: Option<&str>,
    written: &mut Written,
) -> Result<StoredImage> {
    let blobs = LayoutBlobs {
        dir: &layout.dir,
        store,
    };
    let index_path = layout.dir.join("index.json");
    let index_bytes = read_limited(&index_path)?;
    let entries = manifest::parse_index(&index_bytes)
        .map_err(|e| bad(format!("`{}`: {e}", index_path.display())))?;
    let mut selected = select(&entries, layout)?;
    let wanted = platform.map_or_else(host_platform, str::to_string);
    let mut bytes = blobs.read(&selected)?;
    let mut media_type =
        manifest::media_type_of(&bytes).map_err(|e| bad(format!("manifest {selected}: {e}")))?;
    for _ in 0..3 {
        if !manifest::is_index(&media_type) {
            break;
        }
        let nested = manifest::parse_index(&bytes)?;
        let entry = pick_platform(&nested, &wanted).ok_or_else(|| {
            bad(format!(
                "index {selected} in `{}` has no image for {wanted}",
                layout.dir.display()
            ))
        })?;
        selected = entry.desc.digest;
        bytes = blobs.read(&selected)?;
        media_type = manifest::media_type_of(&bytes)
            .map_err(|e| bad(format!("manifest {selected}: {e}")))?;
    }
    if manifest::is_index(&media_type) {
        return Err(bad(format!("indexes nested too deep at {selected}")));
    }
    let parsed = manifest::parse_manifest(&bytes)?;

    // Already here and complete: only the record that keeps it may be new.
    if let Ok(stored) = image::load(store, &selected) {
        if stored.diff_ids.iter().all(|d| store.snapshots().exists(d)) {
            written.put_tag(store, &format!("{UNTAGGED_PREFIX}{selected}"), &selected)?;
            store.index().flush()?;
            return Ok(stored);
        }
    }
    for layer in &parsed.layers {
        if manifest::layer_compression(&layer.media_type).is_none() {
            return Err(bad(format!(
                "layer {} has media type {}, which is not an image layer",
                layer.digest, layer.media_type
            )));
        }
    }
    let mut needed = vec![selected, parsed.config.digest];
    needed.extend(parsed.layers.iter().map(|l| l.digest));
    for digest in needed {
        blobs.copy_into_store(&digest, written)?;
    }
    let plan = ImagePlan {
        manifest: Some(selected),
        config: parsed.config.digest,
        layers: parsed.layers.iter().map(|l| l.digest).collect(),
        names: Vec::new(),
    };
    let stored = store_plan(
        store,
        &plan,
        &mut BTreeMap::new(),
        &mut BTreeMap::new(),
        written,
    )?;
    written.put_tag(
        store,
        &format!("{UNTAGGED_PREFIX}{}", stored.manifest),
        &stored.manifest,
    )?;
    store.index().flush()?;
    Ok(stored)
}

/// The index entry a layout reference means.
fn select(entries: &[IndexEntry], layout: &LayoutRef) -> Result<Digest> {
    if let Some(digest) = layout.digest {
        return Ok(digest);
    }
    let tagged = entries
        .iter()
        .find(|e| e.annotations.get(REF_NAME) == Some(&layout.tag));
    match (tagged, entries) {
        (Some(entry), _) => Ok(entry.desc.digest),
        (None, [only]) => Ok(only.desc.digest),
        (None, _) => {
            let tags: Vec<&str> = entries
                .iter()
                .filter_map(|e| e.annotations.get(REF_NAME).map(String::as_str))
                .collect();
            Err(bad(format!(
                "`{}` has no image tagged `{}` (tags: {})",
                layout.dir.display(),
                layout.tag,
                if tags.is_empty() {
                    "none".to_string()
                } else {
                    tags.join(", ")
                }
            )))
        }
    }
}

/// The blobs of a layout directory (`blobs/sha256/<hex>`).
struct LayoutBlobs<'a> {
    dir: &'a Path,
    store: &'a Store,
}

impl LayoutBlobs<'_> {
    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// A manifest or index, checked against its digest.
    fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = read_limited(&self.path(digest))?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(bad(format!(
                "blob {digest} in `{}` hashes to {actual}",
                self.dir.display()
            )));
        }
        Ok(bytes)
    }

    /// Copies a blob into the store (unless it is there), checking its digest on the way.
    fn copy_into_store(&self, digest: &Digest, written: &mut Written) -> Result<()> {
        if self.store.blobs().exists(digest) {
            return Ok(());
        }
        let path = self.path(digest);
        let mut file = File::open(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let mut writer = self.store.blobs().writer()?;
        std::io::copy(&mut file, &mut writer).map_err(|source| Error::Io { path, source })?;
        writer
            .commit(Some(*digest))
            .map_err(|e| bad(format!("blob {digest} in `{}`: {e}", self.dir.display())))?;
        written.blobs.insert(*digest);
        Ok(())
    }
}

/// A JSON file of the layout, at most [`MAX_MANIFEST_SIZE`] bytes.
fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_MANIFEST_SIZE {
        return Err(bad(format!(
            "`{}` is over the {} MiB limit for manifests",
            path.display(),
            MAX_MANIFEST_SIZE >> 20
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_as_buildx_splits_them() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            LayoutRef::parse("/srv/layout").unwrap(),
            LayoutRef {
                dir: "/srv/layout".into(),
                tag: "latest".into(),
                digest: None
            }
        );
        assert_eq!(LayoutRef::parse("out:v1").unwrap().tag, "v1");
        let both = LayoutRef::parse(&format!("out:v1@{digest}")).unwrap();
        assert_eq!(
            (both.tag.as_str(), both.digest),
            ("v1", digest.parse().ok())
        );
        assert!(LayoutRef::parse("out@sha256:zz")
            .unwrap_err()
            .to_string()
            .contains("invalid digest `sha256:zz`"));
        assert!(LayoutRef::parse(":v1").is_err());
    }
}
