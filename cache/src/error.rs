//! The store's error type: every variant names the path or digest it is about.

use std::path::PathBuf;

/// Everything the store can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("`{path}`: {}", describe_io(.source))]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A string that is not a `sha256:<64 hex>` digest.
    #[error("invalid digest {0:?}: expected `sha256:` and 64 lower-case hex digits")]
    BadDigest(String),
    /// A well-formed digest with an algorithm other than sha256.
    #[error("unsupported digest {0:?}: strata stores sha256 digests only")]
    UnsupportedDigest(String),
    /// Content did not hash to the digest it was stored or announced under.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being checked (a blob path, a layer).
        what: String,
        /// The digest it should have had.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A blob, snapshot or record that is not in the store.
    #[error("{0} is not in the store")]
    NotFound(String),
    /// The index database failed.
    #[error("index `{path}`: {message}")]
    Index {
        /// The database directory.
        path: PathBuf,
        /// What sled said.
        message: String,
    },
    /// A record in the index could not be decoded (written by another strata version?).
    #[error("corrupt index record in `{tree}`: {message}")]
    CorruptRecord {
        /// The sled tree.
        tree: String,
        /// Why it cannot be read.
        message: String,
    },
    /// A store root that is a shared directory (sticky bit, as `/tmp`), which strata would have
    /// to close to every other user.
    #[error("`{root}` is a shared directory (mode {mode:04o}): use a directory of its own as the store root")]
    SharedRoot {
        /// The directory.
        root: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// Another strata process held the store lock for longer than the timeout.
    #[error("timed out after {seconds}s waiting for the lock on `{root}`, held by another strata process")]
    LockTimeout {
        /// The store root.
        root: PathBuf,
        /// How long we waited.
        seconds: u64,
    },
}

fn describe_io(err: &std::io::Error) -> String {
    let full = rustix::io::Errno::from_io_error(err) == Some(rustix::io::Errno::NOSPC);
    if full || err.kind() == std::io::ErrorKind::StorageFull {
        "no space left on device (free space or move the store with --root)".into()
    } else {
        err.to_string()
    }
}

impl Error {
    /// An I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
