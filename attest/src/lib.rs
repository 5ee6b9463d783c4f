//! Supply-chain attestations for strata images: what is inside an image (an SPDX SBOM), how it
//! was built (a SLSA provenance), and the attestation manifests that attach both to the image
//! in its index, laid out as BuildKit lays them out so that `docker buildx imagetools`,
//! registries and policy tools read them.
//!
//! # Place in the data flow
//!
//! ```text
//! builder: graph → steps → layers → image manifest (digest D)
//!   └─ attest: sbom::scan(flattened rootfs) → sbom::spdx::document → in-toto statement
//!              provenance::predicate(build facts) → in-toto statement
//!              manifest::attestation_manifest(statements, subject D)
//!                → layer blobs + manifest (+ config) + the index entry that points at D
//!   └─ oci/cache: the caller writes those blobs to the store and adds the entry to the index
//! ```
//!
//! The crate does no I/O beyond reading the filesystem it is asked to scan: it returns bytes
//! and descriptors, and the caller stores them. It depends on no other strata crate.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use strata_attest::{intoto, manifest, sbom, time};
//!
//! # fn main() -> Result<(), strata_attest::Error> {
//! let rootfs = tempfile::tempdir().unwrap();
//! std::fs::create_dir_all(rootfs.path().join("var/lib/dpkg")).unwrap();
//! std::fs::write(
//!     rootfs.path().join("var/lib/dpkg/status"),
//!     "Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nArchitecture: amd64\n",
//! ).unwrap();
//! let scan = sbom::scan(rootfs.path())?;
//! assert_eq!(scan.packages[0].purl, "pkg:deb/debian/hello@2.10-3?arch=amd64");
//!
//! // SOURCE_DATE_EPOCH=0 makes the document the same on every run.
//! let created = time::creation_time(Some(0), UNIX_EPOCH + Duration::from_secs(99));
//! let info = sbom::spdx::DocumentInfo::new("app:latest", created);
//! let document = sbom::spdx::document(&scan, &info);
//!
//! let image = manifest::Descriptor::new(
//!     manifest::MEDIA_TYPE_OCI_MANIFEST,
//!     intoto::sha256_digest(b"the image manifest"),
//!     18,
//! );
//! let subjects = intoto::Subject::for_image(&["app:latest".into()], "linux/amd64", &image.digest)?;
//! let statement = intoto::statement(sbom::spdx::PREDICATE_TYPE, subjects, &document)?;
//! let attached = manifest::attestation_manifest(&[statement], &image, manifest::Layout::OciArtifact)?;
//! assert_eq!(attached.index_entry.annotations["vnd.docker.reference.digest"], image.digest);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod error;
pub mod intoto;
pub mod manifest;
pub mod provenance;
pub mod purl;
pub mod sbom;
pub mod time;

pub use error::{Error, Result};
