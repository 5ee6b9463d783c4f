//! Image tarballs: `strata save` writes one tar that is both an OCI image layout and a
//! docker-archive; `strata load` reads that, docker's formats (25+ and legacy), plain OCI
//! archives, and compressed tarballs, verifying every digest; `import`/`export` move root
//! filesystem tarballs in and out.
//!
//! In the data flow this sits after the builder: it reads images from the store (manifests,
//! configs, layer records, snapshots) and writes new ones into it.
//!
//! ```no_run
//! # fn main() -> strata_oci::Result<()> {
//! use strata_oci::{archive, image};
//! let store = strata_cache::Store::open("/var/lib/strata".as_ref(), &Default::default())?;
//! let app = image::find(&store, "app:1")?.expect("app:1 is in the store");
//! let mut out = std::fs::File::create("app.tar").unwrap();
//! archive::save(&store, &[(vec!["app:1".into()], app)], &Default::default(), &mut out)?;
//! # Ok(()) }
//! ```

mod checks;
mod descriptor;
mod export;
mod export_dir;
mod import;
mod layers;
mod layout;
pub(crate) mod load;
pub(crate) mod plan;
pub(crate) mod save;
pub(crate) mod spool;

#[cfg(test)]
mod tests;

pub use descriptor::{exported_manifest, ManifestDescriptor};
pub use export::export;
pub use export_dir::export_dir;
pub use import::{import, ImportOptions};
pub(crate) use layers::compressed_blob;
pub use layout::{load_layout, LayoutRef};
pub use load::{load, load_file, Loaded};
pub use save::{save, SaveOptions};
