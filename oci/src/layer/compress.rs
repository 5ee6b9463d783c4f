//! Compressing a layer for export: gzip (the default media type) or zstd, deterministic for a
//! given level: no timestamps or file names in the gzip header.

use std::io::{self, Read, Write};

/// The layer compressions strata writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `application/vnd.oci.image.layer.v1.tar+gzip`.
    Gzip,
    /// `application/vnd.oci.image.layer.v1.tar+zstd`.
    Zstd,
}

impl Compression {
    /// The name used in layer records and flags.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Compresses `input` into `output` at the default level (gzip 6, zstd 3: what docker and
/// BuildKit use); returns the uncompressed byte count.
pub(crate) fn compress(
    compression: Compression,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> io::Result<u64> {
    compress_level(compression, None, input, output)
}

/// [`compress`] at a chosen level (gzip 0–9, zstd 1–22; `None` for the default). The same
/// input and level always give the same bytes: no timestamp or name in the gzip header, and
/// zstd single-threaded with no dictionary.
pub(super) fn compress_level(
    compression: Compression,
    level: Option<i32>,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> io::Result<u64> {
    match compression {
        Compression::Gzip => {
            let level = match level {
                Some(level) => flate2::Compression::new(level.clamp(0, 9) as u32),
                None => flate2::Compression::default(),
            };
            let mut encoder = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(output, level);
            let n = io::copy(input, &mut encoder)?;
            encoder.finish()?;
            Ok(n)
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(output, level.unwrap_or(3))?;
            let n = io::copy(input, &mut encoder)?;
            encoder.finish()?;
            Ok(n)
        }
    }
}
