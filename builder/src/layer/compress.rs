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

/// Compresses `input` into `output`; returns the uncompressed byte count.
pub fn compress(
    compression: Compression,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> io::Result<u64> {
    match compression {
        Compression::Gzip => {
            let mut encoder = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(output, flate2::Compression::default());
            let n = io::copy(input, &mut encoder)?;
            encoder.finish()?;
            Ok(n)
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(output, 3)?;
            let n = io::copy(input, &mut encoder)?;
            encoder.finish()?;
            Ok(n)
        }
    }
}
