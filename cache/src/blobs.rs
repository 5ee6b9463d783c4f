//! Content-addressed blobs in `blobs/sha256/<hex>`.
//!
//! A blob is written to a temp file in the store's `tmp/` (same filesystem), hashed as it is
//! written, fsynced, checked against the digest the caller expected, and only then renamed into
//! place. So a blob path either does not exist or holds exactly the bytes its name says, even if
//! the process is killed or the disk fills up half-way. Leftover temp files are removed when the
//! store is next opened.

mod reader;
mod writer;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::scratch::unique_name;

pub use reader::BlobReader;
pub use writer::BlobWriter;

/// The blob directory of a store.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Blobs {
    pub(crate) fn new(root: &Path) -> Result<Self> {
        let dir = root.join("blobs").join("sha256");
        crate::private::create_private_dir(&dir)?;
        Ok(Blobs {
            dir,
            tmp: root.join(crate::store::TMP_DIR),
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

    /// Opens a blob for reading as it is on disk, unchecked: for random access, or when the
    /// caller hashes the bytes itself. [`Blobs::reader`] checks while streaming.
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

    /// Opens a blob for streaming reads that fail at the end if the bytes do not match the
    /// digest (layers copied into a tarball, decompressed into a snapshot).
    pub fn reader(&self, digest: &Digest) -> Result<BlobReader> {
        Ok(BlobReader::new(
            self.open(digest)?,
            self.path(digest),
            *digest,
        ))
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
        if let Err(e) = writer.write_all(bytes) {
            return Err(Error::io(self.path(&digest), e));
        }
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
        Ok(BlobWriter::new(file, tmp_path, self.dir.clone()))
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
        assert_eq!(writer.digest(), Digest::of(b"hello world"));
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
    fn a_writer_hashed_by_its_caller_commits_under_the_callers_digest_or_rehashes() {
        let (_dir, store) = store();
        let mut writer = store.blobs().writer().unwrap().hashed_by_caller();
        writer.write_all(&vec![7u8; 3 << 20]).unwrap();
        assert_eq!(writer.len(), 3 << 20);
        assert!(
            writer.commit(None).is_err(),
            "an unhashed writer cannot name itself"
        );
        assert_eq!(tmp_entries(&store), 0);
        let mut writer = store.blobs().writer().unwrap().hashed_by_caller();
        writer.write_all(b"layer bytes").unwrap();
        let (digest, size) = writer.commit_hashed(Digest::of(b"layer bytes")).unwrap();
        assert_eq!((digest, size), (Digest::of(b"layer bytes"), 11));
        assert_eq!(store.blobs().read(&digest).unwrap(), b"layer bytes");
        let mut writer = store.blobs().writer().unwrap().hashed_by_caller();
        writer.write_all(b"no caller hash after all").unwrap();
        writer.rehash().unwrap();
        assert_eq!(writer.digest(), Digest::of(b"no caller hash after all"));
        let (digest, _) = writer.commit(Some(writer_digest())).unwrap();
        assert_eq!(digest, writer_digest());
        let mut writer = store.blobs().writer().unwrap().hashed_by_caller();
        writer.write_all(b"dropped").unwrap();
        assert_eq!(writer.discard().unwrap(), 7);
        assert_eq!(tmp_entries(&store), 0);
    }

    fn writer_digest() -> Digest {
        Digest::of(b"no caller hash after all")
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
    fn small_and_large_writes_mix_into_the_right_digest() {
        let (_dir, store) = store();
        let mut expected = Vec::new();
        let mut writer = store.blobs().writer().unwrap();
        // Tar-header-sized writes, a write bigger than the buffer, then small ones again.
        for size in [512usize, 7, 32 << 10, 3 << 20, 1, 600 << 10, 1 << 20, 99] {
            let chunk: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            writer.write_all(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
            assert_eq!(writer.len(), expected.len() as u64);
        }
        let (digest, size) = writer.commit(Some(Digest::of(&expected))).unwrap();
        assert_eq!(size, expected.len() as u64);
        assert_eq!(store.blobs().read(&digest).unwrap(), expected);
    }

    #[test]
    fn a_streaming_read_fails_at_the_end_of_a_corrupted_blob() {
        let (_dir, store) = store();
        let content = vec![5u8; 300_000];
        let digest = store.blobs().put(&content).unwrap();
        let mut good = Vec::new();
        let mut reader = store.blobs().reader(&digest).unwrap();
        reader.read_to_end(&mut good).unwrap();
        assert_eq!(good, content);
        assert_eq!(reader.position(), content.len() as u64);

        let mut corrupted = content.clone();
        corrupted[123_456] ^= 1;
        fs::write(store.blobs().path(&digest), &corrupted).unwrap();
        let mut reader = store.blobs().reader(&digest).unwrap();
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        // Reading on does not turn the failure into a clean end of file.
        assert!(reader.read(&mut [0u8; 16]).is_err());
    }

    #[test]
    fn storing_the_same_content_twice_keeps_one_blob() {
        let (_dir, store) = store();
        let a = store.blobs().put(b"same").unwrap();
        let mut writer = store.blobs().writer().unwrap();
        writer.write_all(b"same").unwrap();
        let (b, _) = writer.commit(None).unwrap();
        assert_eq!(a, b);
        assert_eq!(store.blobs().list().unwrap(), vec![(a, 4)]);
        assert_eq!(store.blobs().size(&a).unwrap(), 4);
        store.blobs().remove(&a).unwrap();
        store.blobs().remove(&a).unwrap();
        assert!(matches!(store.blobs().size(&a), Err(Error::NotFound(_))));
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
