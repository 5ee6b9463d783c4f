//! `type=image` (also `type=registry`, `--push`, `--load`, and no `-o` at all): the image
//! named in the store by each name (untagged, as docker's `<none>`, when it has none), then,
//! with `push=true`, pushed to each name's registry as `strata push` would.

use anyhow::Context as _;
use strata_oci::archive::exported_manifest;
use strata_oci::image::{self, reference::normalize, StoredImage};
use strata_oci::registry::{push, PushOptions, Remote};
use strata_oci::Compression;

use super::metadata::ImageMetadata;
use super::Exporters;

/// Names (and pushes) the image.
pub fn export(
    exporters: &Exporters<'_>,
    image: &StoredImage,
    names: &[String],
    pushing: bool,
    compression: Compression,
) -> anyhow::Result<ImageMetadata> {
    let store = exporters.store;
    for name in names {
        let key = normalize(name);
        image::name(store, &key, &image.manifest)?;
        (exporters.note)(&format!("naming to {key}"));
    }
    if names.is_empty() {
        // As docker's dangling image: listed as `<none>`, usable by ID, gone at prune.
        image::keep_untagged(store, &image.manifest)?;
    }
    store.index().flush()?;
    if !pushing {
        let manifest = exported_manifest(store, image, None)?;
        return Ok(ImageMetadata::new(image, manifest, names, false));
    }
    let mut pushed_digest = None;
    for name in names {
        let remote = Remote::parse(&normalize(name))?;
        (exporters.note)(&format!("pushing {remote}"));
        let progress = |line: &str| (exporters.note)(line);
        let options = PushOptions {
            compression,
            parallel: 0,
        };
        let pushed = push(store, exporters.registry, &remote, &options, &progress)
            .with_context(|| format!("pushing the build result to {remote}"))?;
        (exporters.note)(&format!(
            "{}: digest: {} size: {}",
            remote.tag.as_deref().unwrap_or("latest"),
            pushed.digest,
            pushed.size
        ));
        pushed_digest = Some(pushed.digest);
    }
    let manifest = exported_manifest(store, image, Some(compression))?;
    if pushed_digest.is_some_and(|d| d != manifest.digest) {
        anyhow::bail!(
            "the registry reports manifest {} but strata pushed {}",
            pushed_digest.expect("checked"),
            manifest.digest
        );
    }
    Ok(ImageMetadata::new(image, manifest, names, true))
}
