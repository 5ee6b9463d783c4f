//! The streaming blob writer: hash while writing, then fsync, verify and rename.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// Small writes (a compressor's 32 KiB blocks, tar headers) gather here so that the file sees
/// few large writes and hashing can overlap with copying into the page cache.
const BUFFER: usize = 1 << 20;

/// Chunks at least this big are hashed on one core while the other copies them into the page
/// cache; below it the thread hand-off costs more than it saves.
const PARALLEL_WRITE: usize = 256 << 10;

/// Start writing dirty pages back after this many bytes, so the final fsync has little left to
/// do and disk writes overlap with hashing.
const WRITEBACK_CHUNK: u64 = 8 << 20;

/// Writes one blob: hashes while writing, commits by fsync + verify + rename. Nothing is
/// visible under `blobs/` until [`BlobWriter::commit`] returns; dropped or failed, the writer
/// removes its temp file.
pub struct BlobWriter {
    file: File,
    tmp_path: PathBuf,
    dir: PathBuf,
    hasher: Hasher,
    buffer: Vec<u8>,
    flushed_up_to: u64,
    /// The first write error: once a write failed, hasher and file may disagree, so the blob
    /// can never be committed.
    failed: Option<(Option<i32>, String)>,
    done: bool,
    /// Early writeback on (see [`BlobWriter::without_writeback`]).
    writeback: bool,
    /// Hashing on (see [`BlobWriter::hashed_by_caller`]).
    hashing: bool,
    /// Bytes written through to the file.
    written: u64,
}

impl BlobWriter {
    pub(crate) fn new(file: File, tmp_path: PathBuf, dir: PathBuf) -> Self {
        BlobWriter {
            file,
            tmp_path,
            dir,
            hasher: Hasher::new(),
            buffer: Vec::new(),
            flushed_up_to: 0,
            failed: None,
            done: false,
            writeback: true,
            hashing: true,
            written: 0,
        }
    }

    /// Stops hashing: for a caller that hashes exactly the same bytes itself anyway (load's
    /// unpacker hashes an uncompressed layer for its DiffID, which is the blob's digest), so the
    /// bytes are hashed once. Such a writer is committed with [`BlobWriter::commit_hashed`], or
    /// [`BlobWriter::rehash`]ed first when the caller's hash did not come to be. Only before
    /// the first write: once bytes went through the hasher, the writer keeps hashing.
    pub fn hashed_by_caller(mut self) -> Self {
        self.hashing = self.written > 0 || !self.buffer.is_empty();
        self
    }

    /// Hashes what was written by reading it back, turning a [`BlobWriter::hashed_by_caller`]
    /// writer into an ordinary one.
    pub fn rehash(&mut self) -> Result<()> {
        if self.hashing {
            return Ok(());
        }
        let mut file = self.reopen().map_err(|e| Error::io(&self.tmp_path, e))?;
        let mut hasher = Hasher::new();
        io::copy(&mut file, &mut hasher).map_err(|e| Error::io(&self.tmp_path, e))?;
        self.hasher = hasher;
        self.hashing = true;
        Ok(())
    }

    /// Everything written so far, read back from the temp file (for a caller that compares
    /// it with something else before deciding to commit or discard).
    pub fn reopen(&mut self) -> io::Result<File> {
        self.drain()?;
        File::open(&self.tmp_path)
    }

    /// Stops early writeback: for data that may well be discarded (see
    /// [`BlobWriter::discard`]), pages that never reach the disk cost nothing.
    pub fn without_writeback(mut self) -> Self {
        self.writeback = false;
        self
    }

    /// Drops what was written without storing it; returns its size. The temp file goes with
    /// the writer.
    pub fn discard(mut self) -> Result<u64> {
        if let Err(e) = self.drain() {
            return Err(Error::io(&self.tmp_path, e));
        }
        Ok(self.written)
    }

    /// The digest of everything written so far, without committing: lets a caller see whether
    /// the store already holds this content (and so must not count it as its own) before it
    /// commits or discards. Meaningless for a [`BlobWriter::hashed_by_caller`] writer.
    pub fn digest(&self) -> Digest {
        let mut hasher = self.hasher.clone();
        hasher.update(&self.buffer);
        hasher.finish()
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the blob durable and visible. With `expected`, a different digest is an error and
    /// nothing is stored. Returns the digest and size. Storing a blob that already exists is
    /// fine: the content is the same by definition.
    pub fn commit(mut self, expected: Option<Digest>) -> Result<(Digest, u64)> {
        if let Err(e) = self.drain() {
            return Err(Error::io(&self.tmp_path, e));
        }
        if let Some(e) = self.failure() {
            return Err(Error::io(&self.tmp_path, e));
        }
        if !self.hashing {
            return Err(Error::io(
                &self.tmp_path,
                io::Error::other("a blob hashed by its caller is committed with commit_hashed"),
            ));
        }
        let hasher = std::mem::take(&mut self.hasher);
        let size = hasher.len();
        let digest = hasher.finish();
        if let Some(expected) = expected {
            if expected != digest {
                return Err(Error::DigestMismatch {
                    what: "a blob being stored".into(),
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        self.install(digest, size)
    }

    /// Commits a [`BlobWriter::hashed_by_caller`] writer under `digest`, the sha256 the caller
    /// computed over exactly the bytes it wrote here.
    pub fn commit_hashed(mut self, digest: Digest) -> Result<(Digest, u64)> {
        if let Err(e) = self.drain() {
            return Err(Error::io(&self.tmp_path, e));
        }
        if let Some(e) = self.failure() {
            return Err(Error::io(&self.tmp_path, e));
        }
        let size = self.written;
        self.install(digest, size)
    }

    fn install(&mut self, digest: Digest, size: u64) -> Result<(Digest, u64)> {
        // Data first, then the name: after a crash the name never points at missing data.
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.tmp_path, e))?;
        let target = self.dir.join(digest.hex());
        fs::rename(&self.tmp_path, &target).map_err(|e| Error::io(&target, e))?;
        self.done = true;
        // The rename is durable once the directory entry is.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok((digest, size))
    }

    fn failure(&self) -> Option<io::Error> {
        self.failed.as_ref().map(|(code, message)| match code {
            Some(code) => io::Error::from_raw_os_error(*code),
            None => io::Error::other(format!("an earlier write failed: {message}")),
        })
    }

    /// Hashes and writes `bytes`, overlapping the two for big chunks.
    fn write_through(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let result = if !self.hashing {
            self.file.write_all(bytes)
        } else if bytes.len() >= PARALLEL_WRITE {
            let (hasher, file) = (&mut self.hasher, &mut self.file);
            rayon::join(|| hasher.update(bytes), || file.write_all(bytes)).1
        } else {
            self.hasher.update(bytes);
            self.file.write_all(bytes)
        };
        if let Err(e) = &result {
            self.failed = Some((e.raw_os_error(), e.to_string()));
        }
        result?;
        self.written += bytes.len() as u64;
        self.start_writeback();
        Ok(())
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        let result = self.write_through(&buffer);
        self.buffer = buffer;
        self.buffer.clear();
        result
    }

    fn start_writeback(&mut self) {
        if !self.writeback {
            return;
        }
        let written = self.written;
        if written - self.flushed_up_to < WRITEBACK_CHUNK {
            return;
        }
        // rustix has no sync_file_range.
        // SAFETY: a valid fd and a byte range within the file; the call only schedules I/O.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                self.flushed_up_to as libc::off64_t,
                (written - self.flushed_up_to) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.flushed_up_to = written;
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + buf.len() > BUFFER {
            self.drain()?;
        }
        if buf.len() >= BUFFER {
            self.write_through(buf)?;
        } else {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve_exact(BUFFER);
            }
            self.buffer.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    /// Pushes buffered bytes to the file (not to the disk: that is [`BlobWriter::commit`]).
    fn flush(&mut self) -> io::Result<()> {
        self.drain()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}
