//! Layers: a snapshot dir ⇄ a deterministic layer tar.
//!
//! [`write_layer`] turns a directory (a RUN's overlay upper dir, a COPY's fresh dir, or any
//! snapshot) into the layer tar, converting overlay whiteouts into OCI ones, and hashes it as
//! it streams: the DiffID comes out without the tar ever being stored. The same files always
//! give the same bytes. [`extract_layer`] applies a tar from elsewhere (a loaded or pulled
//! image) into a new snapshot dir, turning OCI whiteouts back into overlay ones and refusing
//! anything that would escape the directory. [`compress`] makes the gzip or zstd form of a
//! layer at export time.

mod compress;
mod extract;
pub(crate) mod tar_format;
mod write;
pub(crate) mod xattr;

pub(crate) use compress::compress;
pub use compress::Compression;
pub use extract::make_special_node;
pub use extract::{extract_layer, ExtractReport};
pub use write::{write_layer, LayerOptions, LayerSummary};

/// OCI's whiteout prefix: `.wh.NAME` deletes `NAME` from lower layers.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
/// The deepest path strata writes or reads, in components (`a/b/c` is 3): contexts, stages'
/// files and layers alike. Real trees stay far below it (a path this deep is over a kilobyte
/// long); what goes deeper is refused with [`crate::error::Error::TooDeep`] rather than
/// exhausting a stack, the open file limit or `PATH_MAX` somewhere further on.
pub const MAX_DEPTH: usize = 512;
/// OCI's opaque marker: `DIR/.wh..wh..opq` hides everything lower layers had in `DIR`.
pub(crate) const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[cfg(test)]
mod tests;
