//! The roots of a build: `FROM scratch`, the build context, and images from the store — and
//! the frontend's view of base images, which pulls what the store lacks before the graph is
//! made (so a build never waits on a registry halfway through).
//!
//! A root runs nothing: its state is a key and the layers it starts with. An image's key is
//! its manifest digest, so a base image updated under the same name changes every key above it.

use std::collections::BTreeSet;
use std::sync::Mutex;

use strata_cache::Store;
use strata_frontend::config::ImageConfig;
use strata_frontend::error::Cause;
use strata_frontend::BaseImages;

use crate::error::{Error, Result};
use crate::solve::state::{cache_key, State};
use strata_oci::image::{self, config as image_config};
use strata_oci::registry::{pull, PullOptions, Registry, Remote};

/// `FROM scratch`: no layers.
pub(super) fn scratch() -> State {
    State::root(cache_key(&[b"scratch"]), Vec::new())
}

/// The build context: no layers of its own (what a COPY reads from it is in the COPY's key).
pub(super) fn context() -> State {
    State::root(cache_key(&[b"context"]), Vec::new())
}

/// A directory given as a named context: as the build context, no layers of its own.
pub(super) fn named_context(name: &str) -> State {
    State::root(cache_key(&[b"named-context", name.as_bytes()]), Vec::new())
}

/// An image from the store, every layer's snapshot present.
pub(super) fn image(store: &Store, reference: &str) -> Result<State> {
    let image = image::find(store, reference)?.ok_or_else(|| Error::ImageNotFound {
        reference: reference.to_string(),
    })?;
    for diff_id in &image.diff_ids {
        if !store.snapshots().exists(diff_id) {
            return Err(Error::ImageIncomplete {
                reference: reference.to_string(),
                diff_id: *diff_id,
            });
        }
    }
    Ok(State::root(
        cache_key(&[b"image", image.manifest.to_string().as_bytes()]),
        image.diff_ids.clone(),
    ))
}

/// The frontend's view of base images: their configs from the store.
pub struct StoreImages<'a>(pub &'a Store);

impl BaseImages for StoreImages<'_> {
    fn config(
        &self,
        reference: &str,
        _platform: &str,
    ) -> std::result::Result<Option<ImageConfig>, Cause> {
        Ok(stored_config(self.0, reference)?)
    }
}

/// The frontend's view of base images that pulls what the store lacks — or, with `always`
/// (`build --pull`), asks the registry about every base once per build and pulls a newer one.
/// Progress lines go to `progress`.
pub struct PullingImages<'a> {
    store: &'a Store,
    registry: &'a Registry,
    always: bool,
    progress: &'a (dyn Fn(&str) + Sync),
    checked: Mutex<BTreeSet<String>>,
}

impl<'a> PullingImages<'a> {
    /// Base images from `store`, pulled through `registry` when missing (always with
    /// `always`).
    pub fn new(
        store: &'a Store,
        registry: &'a Registry,
        always: bool,
        progress: &'a (dyn Fn(&str) + Sync),
    ) -> Self {
        PullingImages {
            store,
            registry,
            always,
            progress,
            checked: Mutex::new(BTreeSet::new()),
        }
    }

    /// Pulls `reference` when the store lacks it (or, with `always`, when the registry has
    /// a newer one), once per build and reference.
    fn refresh(&self, reference: &str, platform: &str) -> Result<()> {
        let local = image::find(self.store, reference)?;
        let first_time = self
            .checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reference.to_string());
        // An image ID (a named context loaded from an OCI layout) is only ever local.
        let is_id = reference.parse::<strata_cache::Digest>().is_ok();
        let remote = Remote::parse(reference).ok().filter(|_| !is_id);
        let (true, Some(remote)) = (first_time && (local.is_none() || self.always), remote) else {
            return Ok(());
        };
        let progress = |line: &str| (self.progress)(&format!("pulling {remote}: {line}"));
        let options = PullOptions {
            platform: Some(platform.to_string()),
            parallel: 0,
        };
        pull(self.store, self.registry, &remote, &options, &progress).map_err(|source| {
            Error::BasePull {
                reference: reference.to_string(),
                had_local: local.is_some(),
                source,
            }
        })?;
        Ok(())
    }
}

impl BaseImages for PullingImages<'_> {
    fn config(
        &self,
        reference: &str,
        platform: &str,
    ) -> std::result::Result<Option<ImageConfig>, Cause> {
        self.refresh(reference, platform)?;
        Ok(stored_config(self.store, reference)?)
    }
}

/// The config of a stored image; an image the store lacks is an error that says how to get it.
fn stored_config(store: &Store, reference: &str) -> Result<Option<ImageConfig>> {
    match image::find(store, reference)? {
        Some(found) => Ok(Some(image_config::from_json(&found.config))),
        None => Err(Error::ImageNotFound {
            reference: reference.to_string(),
        }),
    }
}
