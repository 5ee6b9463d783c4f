//! strata's builder: build graph → steps → layers → image.
//!
//! The frontend hands over a build graph; the builder schedules its vertices, runs RUN steps in
//! the sandbox, copies context files for COPY/ADD, and turns each step's changes into a layer
//! kept in the store and the steps into an image. The formats themselves — layer tars,
//! image configs and manifests, the snapshot view, registries — are `strata-oci`'s: the builder
//! calls it (`commit_dir`, `LayerStack`, `image::store_image`, `registry::pull`) and wraps its
//! errors unchanged.
#![deny(missing_docs)]

pub mod changes;
pub mod container;
pub mod context;
pub mod copy;
pub mod error;
pub mod fetch;
pub mod image_assembly;
pub mod progress;
pub mod sandbox;
pub mod solve;
pub mod users;

pub use error::{Error, Result};

#[cfg(test)]
pub(crate) use strata_testkit::{is_root as running_as_root, skip as skip_test};
