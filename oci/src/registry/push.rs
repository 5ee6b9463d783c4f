//! `strata push`: an image from the store to a registry.
//!
//! Layers are sent compressed (gzip by default), each compressed once and remembered in its
//! layer record, as `save --compression` does; an image whose stored manifest already names
//! compressed blobs (a pulled one) is pushed with that manifest unchanged. Blobs the registry
//! has are skipped (HEAD), blobs seen in another repository of the same registry are mounted,
//! the rest uploaded, several at once; then the config, then the manifest.

use std::sync::Mutex;

use strata_cache::{Digest, Store};

use super::sources::BlobSources;
use super::{BlobSource, ErrorKind, Registry, Remote};
use crate::archive::compressed_blob;
use crate::archive::save::{plan, Source};
use crate::error::{Error, Result};
use crate::image::{self, StoredImage};
use crate::layer::Compression;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Layer compression (gzip unless told otherwise).
    pub compression: Compression,
    /// Layers compressed and uploaded at once (0 = 3).
    pub parallel: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            compression: Compression::Gzip,
            parallel: 0,
        }
    }
}

/// What a push sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
}

fn short(digest: &Digest) -> String {
    digest.hex()[..12].to_string()
}

/// Pushes the image the store names `remote.key()` to `remote`.
pub fn push(
    store: &Store,
    registry: &Registry,
    remote: &Remote,
    options: &PushOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Pushed> {
    if remote.digest.is_some() {
        return Err(Error::Registry {
            kind: ErrorKind::Other,
            reason: format!("pushing {remote}: cannot push to a digest reference; name a tag"),
        });
    }
    let key = remote.key();
    let image = image::find(store, &key)?.ok_or_else(|| Error::Registry {
        kind: ErrorKind::NotFound,
        reason: format!("pushing {remote}: an image does not exist locally with the tag: {key}"),
    })?;
    push_image(store, registry, &image, remote, options, progress).map_err(|error| match error {
        Error::Registry { kind, reason } => Error::Registry {
            kind,
            reason: format!("pushing {remote}: {reason}"),
        },
        other => Error::Registry {
            kind: ErrorKind::Other,
            reason: format!("pushing {remote}: {other}"),
        },
    })
}

/// Pushes a stored image to `remote` (its tag).
pub(super) fn push_image(
    store: &Store,
    registry: &Registry,
    image: &StoredImage,
    remote: &Remote,
    options: &PushOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Pushed> {
    let threads = super::jobs::parallelism(options.parallel);
    progress(&format!(
        "The push refers to repository [{}]",
        if remote.registry == super::DOCKER_HUB {
            format!("docker.io/{}", remote.repository)
        } else {
            remote.location()
        }
    ));
    // Compress what needs compressing, several layers at once (each once: the blob is kept).
    let to_compress: Vec<Digest> = image.diff_ids.clone();
    let stored_manifest =
        crate::image::manifest::parse_manifest(&store.blobs().read(&image.manifest)?)?;
    let already_compressed = stored_manifest.layers.len() == image.diff_ids.len()
        && stored_manifest.layers.iter().all(|l| {
            crate::image::manifest::layer_compression(&l.media_type)
                == Some(Some(options.compression))
                && store.blobs().exists(&l.digest)
        });
    if !already_compressed {
        super::jobs::first_error(super::jobs::run(&to_compress, threads, |diff_id| {
            compressed_blob(store, diff_id, options.compression)
        }))?;
    }
    let plan = plan(store, image, Some(options.compression))?;
    let sources = Mutex::new(BlobSources::open(store));
    let location = remote.location();

    // Layers.
    let mut layers: Vec<Digest> = Vec::new();
    for (desc, source) in &plan.layers {
        let Source::Blob(digest) = source else {
            return Err(Error::Image {
                reason: format!("layer {} has no compressed blob", desc.digest),
            });
        };
        if !layers.contains(digest) {
            layers.push(*digest);
        }
    }
    let result = super::jobs::first_error(super::jobs::run(&layers, threads, |digest| {
        push_blob(store, registry, remote, digest, &sources, progress)?;
        sources.lock().expect("sources").add(digest, &location);
        Ok(())
    }));
    let mut sources = sources.into_inner().expect("sources");
    sources.save();
    result?;

    // Config, then manifest.
    if !registry.has_blob(remote, &image.id)? {
        let bytes = store.blobs().read(&image.id)?;
        registry.put_blob(remote, &image.id, &BlobSource::Bytes(bytes))?;
    }
    let digest = registry.put_manifest(remote, &plan.manifest_bytes, &plan.manifest_media_type)?;
    let size = plan.manifest_bytes.len() as u64;
    Ok(Pushed { digest, size })
}

fn push_blob(
    store: &Store,
    registry: &Registry,
    remote: &Remote,
    digest: &Digest,
    sources: &Mutex<BlobSources>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<()> {
    let id = short(digest);
    progress(&format!("{id}: Preparing"));
    if registry.has_blob(remote, digest)? {
        progress(&format!("{id}: Layer already exists"));
        return Ok(());
    }
    let candidates: Vec<String> = sources
        .lock()
        .expect("sources")
        .locations(digest)
        .iter()
        .filter(|l| l.as_str() != remote.location())
        .filter_map(|l| {
            l.strip_prefix(&format!("{}/", remote.registry))
                .map(str::to_string)
        })
        .collect();
    for repository in candidates {
        let from = Remote {
            repository: repository.clone(),
            tag: None,
            digest: None,
            ..remote.clone()
        };
        if registry.mount_blob(remote, &from, digest)? {
            progress(&format!("{id}: Mounted from {repository}"));
            return Ok(());
        }
    }
    progress(&format!("{id}: Pushing"));
    registry.put_blob(
        remote,
        digest,
        &BlobSource::File(store.blobs().path(digest)),
    )?;
    progress(&format!("{id}: Pushed"));
    Ok(())
}
