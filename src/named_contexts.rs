//! `--build-context NAME=VALUE`: buildx's named contexts, read into what the frontend and
//! the builder take.
//!
//! - `NAME=DIR` (a path): a directory, read as the build context is (through its own
//!   `.dockerignore`), handed to the builder under the name's key;
//! - `NAME=docker-image://REF`: an image, pulled like a base image when the build needs it;
//! - `NAME=oci-layout://DIR[:TAG][@DIGEST]`: an image in an OCI layout directory, loaded
//!   into the store here (unnamed, found by its ID) before the build, as buildx reads the
//!   layout on the client before it solves.
//!
//! Names are keyed as buildx keys them (docker's familiar form, `:latest` dropped), so
//! `alpine` and `docker.io/library/alpine:latest` are one context.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use strata_builder::context::BuildContext;
use strata_builder::solve::NamedContexts;
use strata_cache::Store;
use strata_frontend::{context_key, NamedContext};
use strata_oci::archive::{load_layout, LayoutRef};
use strata_oci::image::reference::Reference;

/// The named contexts of a build.
#[derive(Default)]
pub struct Resolved {
    /// What each name is, for the frontend.
    pub frontend: BTreeMap<String, NamedContext>,
    /// The directories among them, for the builder.
    pub dirs: NamedContexts,
}

/// Reads every `--build-context` value; `platform` picks an OCI layout's image from an index.
pub fn resolve(
    values: &[String],
    store: &Store,
    platform: &str,
    note: &dyn Fn(&str),
) -> anyhow::Result<Resolved> {
    let mut resolved = Resolved::default();
    for value in values {
        let (name, source) = value
            .split_once('=')
            .with_context(|| format!("invalid --build-context `{value}`: expected NAME=VALUE"))?;
        Reference::parse(name).with_context(|| format!("invalid context name `{name}`"))?;
        let key = context_key(name);
        let context = if let Some(reference) = source.strip_prefix("docker-image://") {
            Reference::parse(reference)
                .with_context(|| format!("--build-context `{value}`: invalid image reference"))?;
            NamedContext::Image(reference.to_string())
        } else if let Some(layout) = source.strip_prefix("oci-layout://") {
            let layout =
                LayoutRef::parse(layout).with_context(|| format!("--build-context `{value}`"))?;
            let image = load_layout(store, &layout, Some(platform))
                .with_context(|| format!("--build-context `{value}`: reading the OCI layout"))?;
            note(&format!(
                "[context {key}] loaded {} from `{}`",
                image.id,
                layout.dir.display()
            ));
            NamedContext::Image(image.id.to_string())
        } else if is_unsupported_url(source) {
            bail!(
                "--build-context `{value}`: unsupported source (a directory, docker-image://REF or oci-layout://DIR[:TAG])"
            );
        } else {
            let dir = Path::new(source);
            if !dir.is_dir() {
                bail!(
                    "--build-context `{value}`: `{source}` is not a directory (a directory, docker-image://REF or oci-layout://DIR[:TAG])"
                );
            }
            let context = BuildContext::open(dir, None)
                .with_context(|| format!("--build-context `{value}`"))?;
            resolved.dirs.insert(key.clone(), context);
            NamedContext::Local
        };
        if context != NamedContext::Local {
            // A later value for the same name wins, as in buildx.
            resolved.dirs.remove(&key);
        }
        resolved.frontend.insert(key, context);
    }
    Ok(resolved)
}

/// Sources buildx passes to BuildKit that strata does not fetch (git and HTTP contexts,
/// bake's `target:`).
fn is_unsupported_url(source: &str) -> bool {
    [
        "https://", "http://", "git@", "git://", "ssh://", "target:", "input:",
    ]
    .iter()
    .any(|prefix| source.starts_with(prefix))
}
