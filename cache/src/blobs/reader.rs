//! Reading a blob while checking it against its name.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::digest::{Digest, Hasher};
use crate::error::Error;

/// Reads a blob and hashes what it reads; reaching the end of a blob whose bytes do not match
/// its digest is an [`io::ErrorKind::InvalidData`] error wrapping [`Error::DigestMismatch`], so
/// a consumer that reads to the end (copying a layer into a tarball, decompressing it) never
/// silently passes on a corrupted blob.
pub struct BlobReader {
    file: File,
    path: PathBuf,
    expected: Digest,
    hasher: Option<Hasher>,
    position: u64,
    /// The digest the bytes turned out to have, when it was wrong: every later read repeats
    /// the error rather than looking like a clean end of file.
    mismatch: Option<Digest>,
}

impl BlobReader {
    pub(crate) fn new(file: File, path: PathBuf, expected: Digest) -> Self {
        BlobReader {
            file,
            path,
            expected,
            hasher: Some(Hasher::new()),
            position: 0,
            mismatch: None,
        }
    }

    fn mismatch_error(&self, actual: Digest) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            Error::DigestMismatch {
                what: self.path.display().to_string(),
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            },
        )
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(actual) = self.mismatch {
            return Err(self.mismatch_error(actual));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.file.read(buf)?;
        if n > 0 {
            self.position += n as u64;
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&buf[..n]);
            }
            return Ok(n);
        }
        // End of file: check once.
        if let Some(hasher) = self.hasher.take() {
            let actual = hasher.finish();
            if actual != self.expected {
                self.mismatch = Some(actual);
                return Err(self.mismatch_error(actual));
            }
        }
        Ok(0)
    }
}
