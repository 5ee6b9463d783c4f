//! The crate's error type: what went wrong and, for files, where.

use std::path::PathBuf;

/// Everything building an attestation can report.
///
/// Malformed package databases inside a scanned image are not errors: the scanner skips what
/// it cannot read and says so in [`crate::sbom::Scan::skipped`]. Errors are for the caller's
/// own mistakes (a root that is not a directory, an option string that does not parse, a
/// statement that is not in-toto JSON).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The filesystem root to scan could not be opened.
    #[error("scanning `{path}`: {source}")]
    Root {
        /// The root directory given.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The filesystem root to scan is not a directory.
    #[error("scanning `{0}`: not a directory")]
    RootNotDirectory(PathBuf),
    /// A `--provenance` or `--sbom` option string that does not parse.
    #[error("invalid {flag} value {value:?}: {reason}")]
    Option {
        /// The flag (`--provenance`, `--sbom`).
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes given as an in-toto statement that are not one.
    #[error("not an in-toto statement: {0}")]
    NotAStatement(String),
    /// A digest that is not `sha256:` and 64 lower-case hex digits.
    #[error("invalid digest {0:?}: expected `sha256:` and 64 lower-case hex digits")]
    BadDigest(String),
    /// JSON serialization failed (a map key that is not a string, which our types never have).
    #[error("serializing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
