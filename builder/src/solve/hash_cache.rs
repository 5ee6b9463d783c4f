//! The file-hash caches a build reads content digests from: a context's own table (one flat
//! file, read with one read) in front of the store's per-path index. COPY/ADD keys and
//! `RUN --mount=type=bind` keys hash the files they read; a file whose stat is unchanged is
//! not read again.

use std::path::Path;
use std::sync::Mutex;

use strata_cache::{Digest, FileHashEntry, FileHashTable, Store};

use crate::context::{FileHashCache, FileStat};

/// The store's file-hash index as the context digester's cache.
pub struct IndexHashCache<'a>(pub &'a Store);

/// The context's file-hash table (one flat file per context root, read with one read) in
/// front of the index: a no-op rebuild looks each file up by bisection in memory. New digests
/// are gathered and written back as one table by [`ContextHashCache::save`], only when there
/// are any. Paths outside the context fall through to the index.
pub struct ContextHashCache<'a> {
    store: &'a Store,
    root: Vec<u8>,
    table: FileHashTable,
    added: Mutex<Vec<(Vec<u8>, FileHashEntry)>>,
}

impl<'a> ContextHashCache<'a> {
    /// Reads the table of the context `dir` (absolute). An unreadable table reads as empty:
    /// the files are then hashed.
    pub fn new(store: &'a Store, dir: &Path) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let root = dir.as_os_str().as_bytes().to_vec();
        let table = store.index().file_hash_table(&root).unwrap_or_default();
        ContextHashCache {
            store,
            root,
            table,
            added: Mutex::new(Vec::new()),
        }
    }

    /// `path` relative to the context root, if it is below it.
    fn relative<'p>(&self, path: &'p Path) -> Option<&'p [u8]> {
        use std::os::unix::ffi::OsStrExt;
        let rel = path
            .as_os_str()
            .as_bytes()
            .strip_prefix(self.root.as_slice())?;
        rel.strip_prefix(b"/").filter(|rel| !rel.is_empty())
    }

    /// Writes the table back with this build's new digests, if there are any, or in the
    /// current format if it was read in an older one (a no-op rebuild writes nothing). Failing
    /// to is not an error: the next build rehashes.
    pub fn save(&self) {
        let added = std::mem::take(&mut *self.added.lock().unwrap_or_else(|p| p.into_inner()));
        if added.is_empty() && !self.table.is_outdated() {
            return;
        }
        let table = self.table.merged(added);
        let _ = self.store.index().put_file_hash_table(&self.root, &table);
    }
}

impl FileHashCache for ContextHashCache<'_> {
    fn get(&self, path: &Path, stat: &FileStat) -> Option<[u8; 32]> {
        let Some(rel) = self.relative(path) else {
            return IndexHashCache(self.store).get(path, stat);
        };
        // Files are looked up in walk order, each thread a run of them: the next file is
        // mostly the table's next record. A hint from another table only costs a bisection.
        thread_local! {
            static HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
        }
        let (at, entry) = self.table.get_near(rel, HINT.get())?;
        HINT.set(at);
        entry_matches(&entry, stat).then(|| *entry.digest.bytes())
    }

    fn put(&self, path: &Path, stat: &FileStat, digest: [u8; 32]) {
        let Some(rel) = self.relative(path) else {
            return IndexHashCache(self.store).put(path, stat, digest);
        };
        let entry = file_hash_entry(stat, digest);
        self.added
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((rel.to_vec(), entry));
    }
}

fn file_hash_entry(stat: &FileStat, digest: [u8; 32]) -> FileHashEntry {
    FileHashEntry {
        dev: stat.dev,
        ino: stat.ino,
        size: stat.size,
        mtime_ns: stat.mtime_ns,
        ctime_ns: stat.ctime_ns,
        digest: Digest::from_bytes(digest),
    }
}

fn entry_matches(entry: &FileHashEntry, stat: &FileStat) -> bool {
    entry.dev == stat.dev
        && entry.ino == stat.ino
        && entry.size == stat.size
        && entry.mtime_ns == stat.mtime_ns
        && entry.ctime_ns == stat.ctime_ns
}

impl FileHashCache for IndexHashCache<'_> {
    fn get(&self, path: &Path, stat: &FileStat) -> Option<[u8; 32]> {
        use std::os::unix::ffi::OsStrExt;
        let entry = self
            .0
            .index()
            .file_hash(path.as_os_str().as_bytes())
            .ok()??;
        entry_matches(&entry, stat).then(|| *entry.digest.bytes())
    }

    fn put(&self, path: &Path, stat: &FileStat, digest: [u8; 32]) {
        use std::os::unix::ffi::OsStrExt;
        let entry = file_hash_entry(stat, digest);
        let _ = self
            .0
            .index()
            .put_file_hash(path.as_os_str().as_bytes(), &entry);
    }
}
