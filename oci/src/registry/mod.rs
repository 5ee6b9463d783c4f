//! Registries: a synchronous client over `oci-client` (pull and push of manifests and blobs,
//! credentials, insecure registries, retries), and on top of it `strata pull`/`push`.
//!
//! In the data flow this sits beside `archive`: pulling puts images into the store the way
//! `load` does (every digest and DiffID checked, layers unpacked into snapshots, names last);
//! pushing reads images from the store the way `save` does (each layer compressed once, the
//! compressed digest remembered in its layer record).
//!
//! # The client API ([`Registry`])
//!
//! Stable for other modules (the registry build cache builds on it); extend, don't break.
//!
//! - [`Registry::new`]`(`[`RegistryOptions`]`)`: insecure registries (plain HTTP; `localhost`,
//!   `127.0.0.0/8` and `::1` always are), an [`AuthSource`] (docker's config by default), a
//!   [`RetryPolicy`], [`Timeouts`] (30 s per attempt, 60 s per operation), an optional notice
//!   callback. Owns a small tokio runtime (started on
//!   first use): every call blocks; `&Registry` may be shared between threads for parallel
//!   transfers.
//! - References are [`Remote`]s: `Remote::parse("127.0.0.1:5000/app:1")` (docker's grammar).
//!   Blob calls use only the registry and repository of the remote.
//! - [`Registry::get_manifest`] → [`FetchedManifest`] `{ bytes, digest, media_type }`, at
//!   most [`MAX_MANIFEST_SIZE`] (4 MiB) bytes;
//!   [`Registry::manifest_digest`] (HEAD, `None` when the tag does not exist);
//!   [`Registry::put_manifest`]`(remote, bytes, media_type) → Digest`.
//! - [`Registry::has_blob`], [`Registry::get_blob`]`(remote, digest, writer) → size` (digest
//!   checked), [`Registry::get_blob_bytes`] (at most 4 MiB), [`Registry::fetch_blob`] (into
//!   the store, retried whole); [`Registry::get_blob_sized`] and [`Registry::fetch_blob_sized`]
//!   also hold the blob to its descriptor's size (cut off at the first byte too many);
//!   [`Registry::put_blob`]`(remote, digest, &`[`BlobSource`]`)`,
//!   [`Registry::mount_blob`] (cross-repository mount within one registry).
//! - [`Registry::check_login`] verifies credentials as `docker login` does; [`auth::store`] and
//!   [`auth::erase`] write docker's config file.
//! - Errors are [`crate::Error::Registry`] with an [`ErrorKind`] (`NotFound`, `Auth`,
//!   `Network`, `DigestMismatch`, `Other`) and a message naming the registry.
//!
//! ```no_run
//! # fn main() -> strata_oci::Result<()> {
//! use strata_oci::registry::{Registry, RegistryOptions, Remote};
//! let registry = Registry::new(RegistryOptions::default())?;
//! let remote = Remote::parse("127.0.0.1:5000/app:1")?;
//! let manifest = registry.get_manifest(&remote)?;
//! println!("{} {}", manifest.digest, manifest.media_type);
//! # Ok(()) }
//! ```

pub mod auth;
mod classify;
mod client;
mod download;
mod jobs;
mod login;
mod pull;
mod push;
mod remote;
mod retry;
mod sources;
mod tls;
mod upload;

pub use auth::{AuthSource, Credentials};
pub use client::{BlobSource, FetchedManifest, Notify, Registry, RegistryOptions, UPLOAD_RATE};
pub use download::MAX_MANIFEST_SIZE;
pub(crate) use pull::pick_platform;
pub use pull::{pull, PullOptions, Pulled};
pub use push::{push, PushOptions, Pushed};
pub use remote::{Remote, DOCKER_HUB};
pub use retry::{RetryPolicy, Timeouts};

/// What kind of registry failure an [`crate::Error::Registry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The manifest, blob or repository does not exist.
    NotFound,
    /// Credentials are missing or rejected, or access is denied.
    Auth,
    /// The registry could not be reached, kept failing (5xx) or timed out, after retries.
    Network,
    /// Content did not match its digest, or a blob its descriptor's size.
    DigestMismatch,
    /// Anything else.
    Other,
}
