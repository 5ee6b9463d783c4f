//! Content-addressed blobs in `blobs/sha256/<hex>`.
//!
//! A blob is written to a temp file in the store's `tmp/` (same filesystem), hashed as it is
//! written, fsynced, checked against the digest the caller expected, and only then renamed into
//! place. So a blob path either does not exist or holds exactly the bytes its name says, even if
//! the process is killed or the disk fills up half-way. Leftover temp files are removed when the
//! store is next opened.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::scratch::unique_name;

/// Start writing dirty pages back after this many bytes, so the final fsync has little left to
/// do and disk writes overlap with hashing.
const WRITEBACK_CHUNK: u64 = 8 << 20;

/// The blob directory of a store.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Blobs {
    pub(crate) fn new(root: &Path) -> Result<Self> {
        let dir = root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Blobs {
            dir,
            tmp: root.join("tmp"),
        })
    }

    /// Where a blob lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Its size in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::NotFound(format!("blob {digest}")))
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Opens a blob for reading (not verified; see [`Blobs::read`] and [`Blobs::verify`]).
    pub fn open(&self, digest: &Digest) -> Result<File> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::NotFound(format!("blob {digest}"))
            } else {
                Error::io(path, e)
            }
        })
    }

    /// Reads a whole blob and checks its digest (for small blobs: manifests, configs).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(digest)?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(self.path(digest), e))?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(Error::DigestMismatch {
                what: self.path(digest).display().to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Re-hashes a blob on disk and checks it against its name.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let mut file = self.open(digest)?;
        let mut hasher = Hasher::new();
        io::copy(&mut file, &mut hasher).map_err(|e| Error::io(self.path(digest), e))?;
        let actual = hasher.finish();
        if actual != *digest {
            return Err(Error::DigestMismatch {
                what: self.path(digest).display().to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }

    /// Stores bytes; returns their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if self.exists(&digest) {
            return Ok(digest);
        }
        let mut writer = self.writer()?;
        writer
            .write_all(bytes)
            .map_err(|e| Error::io(&writer.tmp_path, e))?;
        writer.commit(Some(digest)).map(|(digest, _)| digest)
    }

    /// A streaming writer; nothing is visible until [`BlobWriter::commit`].
    pub fn writer(&self) -> Result<BlobWriter> {
        let tmp_path = self.tmp.join(unique_name("blob"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| Error::io(&tmp_path, e))?;
        Ok(BlobWriter {
            file: Some(file),
            tmp_path,
            dir: self.dir.clone(),
            hasher: Hasher::new(),
            flushed_up_to: 0,
        })
    }

    /// Deletes a blob (GC only).
    pub fn remove(&self, digest: &Digest) -> Result<()> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Every blob with its size.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Ok(digest) = Digest::from_hex(&name) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((digest, size));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Writes one blob: hashes while writing, commits by fsync + verify + rename. Dropped without
/// commit, it removes its temp file.
pub struct BlobWriter {
    file: Option<File>,
    tmp_path: PathBuf,
    dir: PathBuf,
    hasher: Hasher,
    flushed_up_to: u64,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Makes the blob durable and visible. With `expected`, a different digest is an error and
    /// nothing is stored. Returns the digest and size.
    pub fn commit(mut self, expected: Option<Digest>) -> Result<(Digest, u64)> {
        let file = self.file.take().expect("file present until commit");
        let hasher = std::mem::take(&mut self.hasher);
        let size = hasher.len();
        let digest = hasher.finish();
        if let Some(expected) = expected {
            if expected != digest {
                drop(file);
                let _ = fs::remove_file(&self.tmp_path);
                return Err(Error::DigestMismatch {
                    what: "a blob being stored".into(),
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        file.sync_data().map_err(|e| Error::io(&self.tmp_path, e))?;
        drop(file);
        let target = self.dir.join(digest.hex());
        fs::rename(&self.tmp_path, &target).map_err(|e| Error::io(&target, e))?;
        // The rename is durable once the directory entry is.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok((digest, size))
    }

    fn start_writeback(&mut self) {
        let written = self.hasher.len();
        if written - self.flushed_up_to < WRITEBACK_CHUNK {
            return;
        }
        if let Some(file) = &self.file {
            // SAFETY: a valid fd and a byte range within the file; the call only schedules I/O.
            unsafe {
                libc::sync_file_range(
                    file.as_raw_fd(),
                    self.flushed_up_to as libc::off64_t,
                    (written - self.flushed_up_to) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.flushed_up_to = written;
    }
}

/// Writes at least this big hash on one core while the other copies into the page cache.
const PARALLEL_WRITE: usize = 256 << 10;

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.as_mut().expect("file present until commit");
        if buf.len() >= PARALLEL_WRITE {
            // Hashing and the copy into the page cache are independent: overlap them.
            let hasher = &mut self.hasher;
            let (_, written) = rayon::join(|| hasher.update(buf), || file.write_all(buf));
            written?;
            self.start_writeback();
            return Ok(buf.len());
        }
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OpenOptions, Store};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
        (dir, store)
    }

    fn tmp_entries(store: &Store) -> usize {
        fs::read_dir(store.root().join("tmp")).unwrap().count()
    }

    #[test]
    fn a_streamed_blob_is_named_by_its_content() {
        let (_dir, store) = store();
        let mut writer = store.blobs().writer().unwrap();
        writer.write_all(b"hello ").unwrap();
        writer.write_all(b"world").unwrap();
        let (digest, size) = writer.commit(None).unwrap();
        assert_eq!(digest, Digest::of(b"hello world"));
        assert_eq!(size, 11);
        assert_eq!(store.blobs().read(&digest).unwrap(), b"hello world");
        assert_eq!(tmp_entries(&store), 0);
    }

    #[test]
    fn a_wrong_expected_digest_stores_nothing() {
        let (_dir, store) = store();
        let mut writer = store.blobs().writer().unwrap();
        writer.write_all(b"tampered").unwrap();
        let err = writer.commit(Some(Digest::of(b"original"))).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(store.blobs().list().unwrap().is_empty());
        assert_eq!(tmp_entries(&store), 0);
    }

    #[test]
    fn an_abandoned_writer_leaves_nothing() {
        let (_dir, store) = store();
        let mut writer = store.blobs().writer().unwrap();
        writer.write_all(b"half").unwrap();
        drop(writer);
        assert_eq!(tmp_entries(&store), 0);
        assert!(store.blobs().list().unwrap().is_empty());
    }

    #[test]
    fn verification_catches_a_blob_changed_on_disk() {
        let (_dir, store) = store();
        let digest = store.blobs().put(b"content").unwrap();
        store.blobs().verify(&digest).unwrap();
        fs::write(store.blobs().path(&digest), b"changed").unwrap();
        assert!(store.blobs().verify(&digest).is_err());
        assert!(store.blobs().read(&digest).is_err());
        let missing = Digest::of(b"never stored");
        assert!(matches!(
            store.blobs().open(&missing),
            Err(Error::NotFound(_))
        ));
    }
}
