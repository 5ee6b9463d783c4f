//! The OCI crate's error type. Every variant names what it is about: a path, an image, a
//! registry, a cache. Messages are lower-case without a final period; the builder wraps this
//! type transparently, so they read the same wherever they surface.

use std::path::PathBuf;

use crate::registry::ErrorKind;

/// Everything that can go wrong reading, writing or moving images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed on a path.
    #[error("`{path}`: {source}")]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] strata_cache::Error),
    /// An image in the store that cannot be used.
    #[error("image: {reason}")]
    Image {
        /// What is wrong.
        reason: String,
    },
    /// A layer tar that is malformed or hostile.
    #[error("invalid layer: {reason}")]
    BadLayer {
        /// What is wrong with it.
        reason: String,
    },
    /// A layer tar that could not be read: the stream broke, or a header does not parse.
    #[error("invalid layer: {what}: {source}")]
    LayerRead {
        /// What was being read (`reading the layer`, ``entry `etc/passwd`: link target``).
        what: String,
        /// What the reader said.
        #[source]
        source: std::io::Error,
    },
    /// An image tarball that is malformed, inconsistent or hostile (`strata load`).
    #[error("invalid image archive: {reason}")]
    Archive {
        /// What is wrong with it.
        reason: String,
    },
    /// An image tarball that could not be read: the stream broke, or a header does not parse.
    #[error("invalid image archive: {what}: {source}")]
    ArchiveRead {
        /// What was being read (`reading`, ``reading `blobs/sha256/…` ``).
        what: String,
        /// What the reader said.
        #[source]
        source: std::io::Error,
    },
    /// A layer of an image tarball that could not be applied.
    #[error("invalid image archive: layer {blob}: {source}")]
    ArchiveLayer {
        /// The layer's blob in the archive.
        blob: strata_cache::Digest,
        /// What was wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// A `--cache-to` / `--cache-from` value that cannot be used.
    #[error("invalid {flag} `{value}`: {reason}")]
    CacheSpec {
        /// The flag.
        flag: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing an exported build cache failed.
    #[error("{location}: {reason}")]
    Cache {
        /// The cache (`local cache \`DIR\``, `registry cache \`REF\``).
        location: String,
        /// What went wrong.
        reason: String,
    },
    /// An exported build cache failed in a lower layer (its registry, the store).
    #[error("{location}: {source}")]
    CacheTransfer {
        /// The cache (`local cache \`DIR\``, `registry cache \`REF\``).
        location: String,
        /// What failed underneath.
        #[source]
        source: Box<Error>,
    },
    /// Talking to a registry failed; the message names the registry (and callers add the
    /// reference: `pulling 127.0.0.1:5000/app:1: manifest unknown`).
    #[error("{reason}")]
    Registry {
        /// What kind of failure.
        kind: ErrorKind,
        /// What went wrong.
        reason: String,
    },
    /// A reference that does not follow docker's grammar.
    #[error(transparent)]
    Reference(#[from] crate::image::reference::InvalidReference),
    /// Too many symlinks while resolving a path inside a root.
    #[error("`{path}`: too many levels of symbolic links")]
    SymlinkLoop {
        /// Where the loop was detected.
        path: PathBuf,
    },
    /// A directory tree nested deeper than [`crate::MAX_DEPTH`] levels (a context, a
    /// stage's files, a layer being written or read).
    #[error(
        "`{}`: more than {max} directory levels deep; strata refuses deeper trees",
        abbreviate(path)
    )]
    TooDeep {
        /// The first path found below the limit.
        path: String,
        /// The limit.
        max: usize,
    },
    /// A file that would be written into a layer under a name starting with `.wh.`: in a layer
    /// that name is a whiteout, so the file would delete another one where it is unpacked.
    #[error("`{path}`: file names starting with `.wh.` are reserved for whiteouts in image layers (unpacked, it would delete `{}` instead); rename it", whiteout_victim(path))]
    WhiteoutName {
        /// The path in the layer.
        path: String,
    },
}

impl Error {
    /// Whether this is a failure of an exported build cache (`--cache-from`): never a
    /// build's own failure, since the step can always run instead.
    pub fn is_cache(&self) -> bool {
        matches!(self, Error::Cache { .. } | Error::CacheTransfer { .. })
    }
}

/// The OCI crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A path cut to its first and last parts when it is too long to read in a message.
fn abbreviate(path: &str) -> String {
    const HEAD: usize = 80;
    const TAIL: usize = 40;
    if path.len() <= HEAD + TAIL + 10 {
        return path.to_string();
    }
    let head_end = (0..=HEAD)
        .rev()
        .find(|&i| path.is_char_boundary(i))
        .unwrap_or(0);
    let tail_start = (path.len() - TAIL..path.len())
        .find(|&i| path.is_char_boundary(i))
        .unwrap_or(path.len());
    format!(
        "{}…({} bytes)…{}",
        &path[..head_end],
        tail_start - head_end,
        &path[tail_start..]
    )
}

/// What a `.wh.NAME` entry deletes: `NAME` in the same directory.
fn whiteout_victim(path: &str) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let victim = name.strip_prefix(".wh.").unwrap_or(name);
    if dir.is_empty() {
        victim.to_string()
    } else {
        format!("{dir}/{victim}")
    }
}
