//! Content digests of COPY/ADD sources, the content half of a COPY step's cache key.
//!
//! A source tree is digested from what a copy would write: each entry's path (relative to the
//! source), kind, permission bits, and its content digest or link target — never mtimes or
//! context ownership, which COPY does not carry over. Reading every file on each build would make
//! a no-op rebuild as slow as the first, so file digests are remembered in a [`FileHashCache`]
//! keyed by what `stat` says (device, inode, size, mtime, ctime): an unchanged stat means an
//! unchanged file, and the file is not opened.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::meta::EntryMeta;
use super::walk::{EntryKind, SourceEntry};
use crate::error::{Error, Result};

/// What `stat` says about a file; equal stats mean the content digest is still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStat {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the epoch (catches `touch -m` tricks and renames over).
    pub ctime_ns: i64,
}

impl FileStat {
    /// The stat facts of an entry.
    pub fn of(meta: &EntryMeta) -> Self {
        FileStat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime_ns(),
            ctime_ns: meta.ctime_ns(),
        }
    }
}

/// A memory of file content digests, keyed by path and stat (the store's file-hash index).
pub trait FileHashCache: Sync {
    /// The remembered sha256 of `path`'s content if its stat is still `stat`.
    fn get(&self, path: &Path, stat: &FileStat) -> Option<[u8; 32]>;
    /// Remembers a content digest. Failures to remember are not errors: the next build rehashes.
    fn put(&self, path: &Path, stat: &FileStat, digest: [u8; 32]);
}

/// A cache that remembers nothing: every file is read.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFileHashCache;

impl FileHashCache for NoFileHashCache {
    fn get(&self, _: &Path, _: &FileStat) -> Option<[u8; 32]> {
        None
    }
    fn put(&self, _: &Path, _: &FileStat, _: [u8; 32]) {}
}

/// Files changed this recently are not remembered: a write in the same timestamp tick after we
/// hash would leave the stat unchanged (git's "racy clean" problem). File timestamps come from
/// the kernel's coarse clock, which ticks every few milliseconds; 100 ms is a wide margin.
const RACY_WINDOW_NS: i64 = 100_000_000;

/// Per-entry content digests, parallel to the entries: `Some` for regular files.
pub type FileDigests = Vec<Option<[u8; 32]>>;

/// Digests source trees, consulting and feeding a [`FileHashCache`].
pub struct ContentDigester<'a> {
    cache: &'a dyn FileHashCache,
}

impl<'a> ContentDigester<'a> {
    /// A digester backed by `cache`.
    pub fn new(cache: &'a dyn FileHashCache) -> Self {
        ContentDigester { cache }
    }

    /// One digest over a walked source: entries in walk order (sorted), with their content.
    /// Regular files are hashed in parallel.
    pub fn digest_entries(&self, entries: &[SourceEntry]) -> Result<[u8; 32]> {
        self.digest_entries_and_files(entries).map(|(tree, _)| tree)
    }

    /// [`ContentDigester::digest_entries`], also returning each entry's content digest
    /// (`Some` for regular files), which the copy uses to reuse unchanged files.
    pub fn digest_entries_and_files(
        &self,
        entries: &[SourceEntry],
    ) -> Result<([u8; 32], FileDigests)> {
        // One pass over the entries: each chunk looks its files up (or hashes them) and writes
        // its records while the entries are in cache; the chunks' records are then hashed in
        // order, so the bytes are those of one record after another, whatever the chunking.
        let chunk = chunk_len(entries.len());
        let mut file_digests: FileDigests = vec![None; entries.len()];
        let records: Vec<Vec<u8>> = entries
            .par_chunks(chunk)
            .zip(file_digests.par_chunks_mut(chunk))
            .map(|(entries, digests)| {
                let mut out = Vec::with_capacity(entries.len() * 96);
                for (entry, digest) in entries.iter().zip(digests) {
                    if entry.kind == EntryKind::File {
                        *digest = Some(self.file_digest(&entry.host_path, &entry.meta)?);
                    }
                    write_record(&mut out, entry, *digest);
                }
                Ok(out)
            })
            .collect::<Result<_>>()?;
        let mut tree = Sha256::new();
        for chunk in &records {
            tree.update(chunk);
        }
        Ok((tree.finalize().into(), file_digests))
    }

    /// The sha256 of one file's content, from the cache when its stat is unchanged.
    pub fn file_digest(&self, path: &Path, meta: &EntryMeta) -> Result<[u8; 32]> {
        let stat = FileStat::of(meta);
        if let Some(digest) = self.cache.get(path, &stat) {
            return Ok(digest);
        }
        let digest = hash_file(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !recently_modified(&stat) {
            self.cache.put(path, &stat, digest);
        }
        Ok(digest)
    }
}

/// Entries per chunk of the digest pass: a few chunks per thread, so a chunk's work dwarfs its
/// scheduling and a chunk with a big file to hash still leaves others to steal.
fn chunk_len(entries: usize) -> usize {
    (entries / (rayon::current_num_threads() * 4)).clamp(1, 4096)
}

/// One entry's part of a tree digest: path, kind and permission bits, content digest or link
/// target, each followed by a NUL. The kind and bits read as `format!("{kind:?} {bits:o}")`
/// (the form the first cache keys used), written without the formatting machinery: this runs
/// once per context file on every build.
fn write_record(out: &mut Vec<u8>, entry: &SourceEntry, content: Option<[u8; 32]>) {
    out.extend_from_slice(entry.rel.as_bytes());
    out.push(0);
    match &entry.kind {
        EntryKind::Dir => out.extend_from_slice(b"Dir"),
        EntryKind::File => out.extend_from_slice(b"File"),
        EntryKind::Special => out.extend_from_slice(b"Special"),
        EntryKind::Symlink { .. } => {
            use std::io::Write as _;
            // Writing to a vector cannot fail.
            let _ = write!(out, "{:?}", entry.kind);
        }
    }
    out.push(b' ');
    push_octal(out, entry.meta.mode() & 0o7777);
    out.push(0);
    match (&entry.kind, content) {
        (_, Some(digest)) => out.extend_from_slice(&digest),
        (EntryKind::Symlink { target }, None) => out.extend_from_slice(target.as_bytes()),
        _ => {}
    }
    out.push(0);
}

/// `value` in octal digits, as `{:o}` writes it.
fn push_octal(out: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0u8; 11];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value & 7) as u8;
        value >>= 3;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn recently_modified(stat: &FileStat) -> bool {
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(i64::MAX);
    now_ns - stat.mtime_ns.max(stat.ctime_ns) < RACY_WINDOW_NS
}

fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_as_the_formatted_kind_and_bits() {
        // Cache keys made before records were written by hand used `format!`; they must not
        // change.
        let dir = tempfile::tempdir().unwrap();
        let meta = super::super::EntryMeta::of(&std::fs::metadata(dir.path()).unwrap());
        let kinds = [
            EntryKind::Dir,
            EntryKind::File,
            EntryKind::Special,
            EntryKind::Symlink {
                target: "../a \"b\"".into(),
            },
        ];
        for kind in kinds {
            let entry = SourceEntry {
                rel: "some/path".into(),
                host_path: dir.path().to_path_buf(),
                meta,
                kind: kind.clone(),
            };
            let mut written = Vec::new();
            write_record(&mut written, &entry, None);
            let mut expected = b"some/path\0".to_vec();
            expected.extend_from_slice(format!("{:?} {:o}", kind, meta.mode() & 0o7777).as_bytes());
            expected.push(0);
            if let EntryKind::Symlink { target } = &kind {
                expected.extend_from_slice(target.as_bytes());
            }
            expected.push(0);
            assert_eq!(written, expected, "{kind:?}");
        }
        for bits in [0, 1, 0o7, 0o10, 0o644, 0o755, 0o7777] {
            let mut written = Vec::new();
            push_octal(&mut written, bits);
            assert_eq!(written, format!("{bits:o}").into_bytes());
        }
    }
}
