//! strata's OCI formats and distribution: everything that reads, writes or moves images.
//!
//! The builder produces directories of changes; this crate turns them into what the rest of
//! the world exchanges, and back:
//!
//! - **layers** ([`write_layer`], [`extract_layer`], [`commit_dir`]): a snapshot dir ⇄ a
//!   deterministic layer tar whose sha256 is the DiffID; overlay whiteouts ⇄ OCI whiteouts.
//!   [`LayerStack`] reads an image's snapshots as one filesystem, as overlayfs would show it.
//! - **[`image`]**: images in the store (a manifest naming a config and layers, found by
//!   tag), the image config JSON and docker's reference grammar.
//! - **[`archive`]**: `save`/`load` tarballs (OCI layout and docker-archive at once),
//!   `import`/`export` of root filesystems.
//! - **[`registry`]**: a synchronous registry client and `pull`/`push` on top of it.
//! - **[`cache_exchange`]**: `--cache-to`/`--cache-from`, step results shared through a
//!   directory or a registry.
//!
//! In the data flow it sits after the builder and beside the store: the builder (solver,
//! sandbox, COPY) calls it to commit layers and assemble images; the CLI calls it for every
//! command that moves images. It uses the store (`strata-cache`) and the frontend's config
//! and reference types, never the builder.
//!
//! ```no_run
//! # fn main() -> strata_oci::Result<()> {
//! use strata_oci::{archive, image, registry};
//! let store = strata_cache::Store::open("/var/lib/strata".as_ref(), &Default::default())?;
//! // Pull an image, then write it to a tarball docker and podman can load.
//! let client = registry::Registry::new(Default::default())?;
//! let remote = registry::Remote::parse("127.0.0.1:5000/app:1")?;
//! registry::pull(&store, &client, &remote, &Default::default(), &|line| eprintln!("{line}"))?;
//! let app = image::find(&store, "127.0.0.1:5000/app:1")?.expect("just pulled");
//! let mut out = std::fs::File::create("app.tar").unwrap();
//! archive::save(&store, &[(vec!["127.0.0.1:5000/app:1".into()], app)], &Default::default(), &mut out)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
// The public API is what lib.rs re-exports and the public modules name; anything else is
// the crate's own and says so (`pub(crate)`), so the curated surface cannot grow by accident.
#![warn(unreachable_pub)]

pub mod archive;
pub mod cache_exchange;
mod commit;
mod error;
pub mod image;
mod layer;
pub mod registry;
mod rootfs;

pub use commit::commit_dir;
pub use error::{Error, Result};
pub use layer::{
    extract_layer, make_special_node, write_layer, Compression, ExtractReport, LayerOptions,
    LayerSummary, MAX_DEPTH,
};
pub use rootfs::{
    in_user_namespace, in_user_namespace_now, is_opaque, is_whiteout, is_whiteout_at,
    make_whiteout, mark_opaque, resolve_scoped, Found, LayerStack, OPAQUE_XATTR, USER_OPAQUE_XATTR,
    USER_WHITEOUT_XATTR,
};

/// Extended attributes of a path, never following a final symlink: the sandboxes' differs
/// and opaque-marker cleanup read and write overlay's markers with them.
pub mod xattr {
    pub use crate::layer::xattr::{get, list, set};
}

#[cfg(test)]
pub(crate) use strata_testkit::{is_root as running_as_root, skip as skip_test};
