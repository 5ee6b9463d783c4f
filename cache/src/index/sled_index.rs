//! The on-disk [`Index`] in a sled database (`index/` in the store root).
//!
//! Values are JSON except the file-hash tree, which is read once per context file on every
//! build and so uses a fixed 72-byte binary record. Trees are versioned by name; see the module
//! docs of [`crate::index`] for when to bump.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::file_table::{decode_entry, encode_entry};
use super::{CopyRecord, FileHashEntry, FileHashTable, Index, LayerRecord, StepRecord};
use crate::digest::Digest;
use crate::error::{Error, Result};

const STEPS: &str = "cachekeys-v1";
const LAYERS: &str = "layers-v1";
const TAGS: &str = "tags-v1";
const FILES: &str = "filehash-v1";
/// Copy records live in files beside the database (`copies-v1/<lineage hex>`), not in a tree:
/// one holds a digest per file a COPY wrote (megabytes for a big tree), is read only when that
/// COPY runs again, and sled reads its stored values whenever it opens.
const COPIES: &str = "copies-v1";
/// File-hash tables, one per context root (`filehash-tables-v1/<sha256 of the root path>`):
/// a no-op rebuild reads its context's digests with one read instead of a tree scan.
const FILE_TABLES: &str = "filehash-tables-v1";

/// The trees this version reads and writes.
const CURRENT: [&str; 4] = [STEPS, LAYERS, TAGS, FILES];

/// Splits `family-vN` into its family and version.
fn tree_version(name: &str) -> Option<(&str, u32)> {
    let (family, version) = name.rsplit_once("-v")?;
    Some((family, version.parse().ok()?))
}

/// The sled-backed index.
pub struct SledIndex {
    path: PathBuf,
    db: sled::Db,
    steps: sled::Tree,
    layers: sled::Tree,
    tags: sled::Tree,
    files: sled::Tree,
    /// The copy records' directory.
    copies: PathBuf,
    /// The file-hash tables' directory.
    file_tables: PathBuf,
    /// What had to be repaired before sled would open, one sentence each.
    repairs: Vec<String>,
}

impl SledIndex {
    /// Opens (or creates) the database in `path`, first removing the unfinished snapshot files
    /// a full disk leaves (see [`SledIndex::repairs`]). Only one process may hold it open; the
    /// store lock makes sure of that before this is called.
    pub fn open(path: &Path) -> Result<Self> {
        let fail = |e: sled::Error| index_error(path, e);
        let repairs = super::sled_repair::remove_unfinished_snapshots(path)?;
        let db = open_db(path).map_err(fail)?;
        Ok(SledIndex {
            steps: db.open_tree(STEPS).map_err(fail)?,
            layers: db.open_tree(LAYERS).map_err(fail)?,
            tags: db.open_tree(TAGS).map_err(fail)?,
            files: db.open_tree(FILES).map_err(fail)?,
            copies: path.with_file_name(COPIES),
            file_tables: path.with_file_name(FILE_TABLES),
            path: path.to_path_buf(),
            db,
            repairs,
        })
    }

    /// What opening had to repair (unfinished snapshot files removed), one sentence each, for
    /// the caller to show: nothing that was flushed is lost by these repairs.
    pub fn repairs(&self) -> &[String] {
        &self.repairs
    }

    /// Trees an older strata wrote that this version has replaced (`cachekeys-v0` once
    /// `cachekeys-v1` exists). Trees of unknown families or newer versions are not stale:
    /// they may belong to a newer strata sharing the root.
    pub fn stale_trees(&self) -> Vec<String> {
        let current: Vec<(&str, u32)> = CURRENT.iter().filter_map(|n| tree_version(n)).collect();
        self.db
            .tree_names()
            .iter()
            .filter_map(|name| std::str::from_utf8(name).ok())
            .filter(|name| {
                tree_version(name).is_some_and(|(family, version)| {
                    current.iter().any(|&(f, v)| f == family && version < v)
                })
            })
            .map(str::to_string)
            .collect()
    }

    /// Drops the [stale trees](SledIndex::stale_trees); returns their names.
    pub fn drop_stale_trees(&self) -> Result<Vec<String>> {
        let stale = self.stale_trees();
        for name in &stale {
            self.db.drop_tree(name).map_err(|e| self.fail(e))?;
        }
        Ok(stale)
    }

    fn fail(&self, e: sled::Error) -> Error {
        index_error(&self.path, e)
    }

    fn get<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        name: &str,
        key: &[u8],
    ) -> Result<Option<T>> {
        match tree.get(key).map_err(|e| self.fail(e))? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| Error::CorruptRecord {
                        tree: name.into(),
                        message: e.to_string(),
                    })
            }
        }
    }

    fn put<T: Serialize>(&self, tree: &sled::Tree, key: &[u8], value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).expect("records serialise");
        tree.insert(key, bytes).map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn all<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        name: &str,
    ) -> Result<Vec<(sled::IVec, T)>> {
        tree.iter()
            .map(|item| {
                let (key, value) = item.map_err(|e| self.fail(e))?;
                let value = serde_json::from_slice(&value).map_err(|e| Error::CorruptRecord {
                    tree: name.into(),
                    message: e.to_string(),
                })?;
                Ok((key, value))
            })
            .collect()
    }
}

/// sled's I/O errors become ordinary I/O errors on the index directory, so that a full disk
/// reads as one (with its hint) rather than as a sled debug dump.
fn index_error(path: &Path, e: sled::Error) -> Error {
    match e {
        // sled re-wraps OS errors as text; keep a full disk recognisable as ENOSPC.
        sled::Error::Io(source)
            if source.raw_os_error().is_none()
                && source.kind() == std::io::ErrorKind::StorageFull =>
        {
            Error::io(path, rustix::io::Errno::NOSPC.into())
        }
        sled::Error::Io(source) => Error::io(path, source),
        other => Error::Index {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}

fn digest_key(key: &sled::IVec, tree: &str) -> Result<Digest> {
    let bytes: [u8; 32] = key.as_ref().try_into().map_err(|_| Error::CorruptRecord {
        tree: tree.into(),
        message: "key is not a digest".into(),
    })?;
    Ok(Digest::from_bytes(bytes))
}

impl Index for SledIndex {
    fn step(&self, key: &Digest) -> Result<Option<StepRecord>> {
        self.get(&self.steps, STEPS, key.bytes())
    }
    fn put_step(&self, key: &Digest, record: &StepRecord) -> Result<()> {
        self.put(&self.steps, key.bytes(), record)
    }
    fn remove_step(&self, key: &Digest) -> Result<()> {
        self.steps.remove(key.bytes()).map_err(|e| self.fail(e))?;
        Ok(())
    }
    fn steps(&self) -> Result<Vec<(Digest, StepRecord)>> {
        self.all(&self.steps, STEPS)?
            .into_iter()
            .map(|(k, v)| Ok((digest_key(&k, STEPS)?, v)))
            .collect()
    }
    fn layer(&self, diff_id: &Digest) -> Result<Option<LayerRecord>> {
        self.get(&self.layers, LAYERS, diff_id.bytes())
    }
    fn put_layer(&self, record: &LayerRecord) -> Result<()> {
        self.put(&self.layers, record.diff_id.bytes(), record)
    }
    fn remove_layer(&self, diff_id: &Digest) -> Result<()> {
        self.layers
            .remove(diff_id.bytes())
            .map_err(|e| self.fail(e))?;
        Ok(())
    }
    fn layers(&self) -> Result<Vec<LayerRecord>> {
        Ok(self
            .all(&self.layers, LAYERS)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }
    fn tag(&self, name: &str) -> Result<Option<Digest>> {
        self.get(&self.tags, TAGS, name.as_bytes())
    }
    fn put_tag(&self, name: &str, manifest: &Digest) -> Result<()> {
        self.put(&self.tags, name.as_bytes(), manifest)
    }
    fn remove_tag(&self, name: &str) -> Result<bool> {
        Ok(self
            .tags
            .remove(name.as_bytes())
            .map_err(|e| self.fail(e))?
            .is_some())
    }
    fn tags(&self) -> Result<Vec<(String, Digest)>> {
        self.all::<Digest>(&self.tags, TAGS)?
            .into_iter()
            .map(|(k, v)| Ok((String::from_utf8_lossy(&k).into_owned(), v)))
            .collect()
    }
    fn file_hash(&self, path: &[u8]) -> Result<Option<FileHashEntry>> {
        Ok(self
            .files
            .get(path)
            .map_err(|e| self.fail(e))?
            .and_then(|bytes| decode_entry(&bytes)))
    }
    fn put_file_hash(&self, path: &[u8], entry: &FileHashEntry) -> Result<()> {
        self.files
            .insert(path, &encode_entry(entry)[..])
            .map_err(|e| self.fail(e))?;
        Ok(())
    }
    fn file_hash_table(&self, root: &[u8]) -> Result<FileHashTable> {
        let path = self.file_tables.join(Digest::of(root).hex());
        match std::fs::read(&path) {
            // A table that fails its checksum or does not decode is treated as empty: the
            // files are hashed again and the table rewritten.
            Ok(bytes) => Ok(FileHashTable::decode_checked(bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileHashTable::new()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
    fn put_file_hash_table(&self, root: &[u8], table: &FileHashTable) -> Result<()> {
        use std::io::Write as _;
        let dir = &self.file_tables;
        crate::private::create_private_dir(dir)?;
        // Written aside, synced, and renamed into place: a reader sees the old table or the
        // new one, never half of one.
        let name = Digest::of(root).hex();
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let written = std::fs::File::create(&tmp).and_then(|mut file| {
            file.write_all(table.stored())?;
            file.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(&path, e));
        }
        Ok(())
    }
    fn file_hash_count(&self) -> Result<usize> {
        let mut count = self.files.len();
        let tables = match std::fs::read_dir(&self.file_tables) {
            Ok(tables) => tables,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(count),
            Err(e) => return Err(Error::io(&self.file_tables, e)),
        };
        for table in tables {
            let table = table.map_err(|e| Error::io(&self.file_tables, e))?;
            if let Ok(bytes) = std::fs::read(table.path()) {
                count += FileHashTable::decode_checked(bytes).map_or(0, |t| t.len());
            }
        }
        Ok(count)
    }
    fn clear_file_hashes(&self) -> Result<()> {
        self.files.clear().map_err(|e| self.fail(e))?;
        match std::fs::remove_dir_all(&self.file_tables) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(&self.file_tables, e))
            }
            _ => Ok(()),
        }
    }
    fn copy_record(&self, lineage: &Digest) -> Result<Option<CopyRecord>> {
        let path = self.copies.join(lineage.hex());
        match std::fs::read(&path) {
            // A record that fails its checksum or does not decode is treated as absent: the
            // copy is simply done in full.
            Ok(bytes) => Ok(CopyRecord::decode_checked(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
    fn put_copy_record(&self, lineage: &Digest, record: &CopyRecord) -> Result<()> {
        crate::private::create_private_dir(&self.copies)?;
        // Written aside and renamed into place: a reader sees the old record or the new one.
        // No fsync: it is a cache, and its checksum catches whatever a crash leaves.
        let path = self.copies.join(lineage.hex());
        let tmp = self
            .copies
            .join(format!(".{}.{}", lineage.hex(), std::process::id()));
        std::fs::write(&tmp, record.encode_checked()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }
    fn clear_copy_records(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.copies) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.copies, e)),
            _ => Ok(()),
        }
    }
    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(|e| self.fail(e))?;
        Ok(())
    }
}

/// How long to wait for sled's own file lock once the root lock is ours.
const SLED_LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the database. The root lock already keeps other strata processes out, so a busy
/// sled lock here is this process's previous handle still closing: sled releases it from a
/// background flusher thread a moment after the `Db` is dropped (sled's own tests block on it
/// for the same reason). Wait a little for it instead of failing.
fn open_db(path: &Path) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        let opened = super::sled_start::with_opener_priority(|| {
            sled::Config::new()
                .path(path)
                .cache_capacity(64 << 20)
                .open()
        });
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < SLED_LOCK_GRACE =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_older_versions_of_known_trees_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let index = SledIndex::open(&dir.path().join("index")).unwrap();
        for name in [
            "cachekeys-v0",
            "tags-v0",
            "cachekeys-v2",
            "someone-else-v1",
            "odd",
        ] {
            index
                .db
                .open_tree(name)
                .unwrap()
                .insert(b"k", b"v")
                .unwrap();
        }
        let mut stale = index.stale_trees();
        stale.sort();
        assert_eq!(stale, ["cachekeys-v0", "tags-v0"]);
        index.drop_stale_trees().unwrap();
        assert!(index.stale_trees().is_empty());
        let names: Vec<_> = index.db.tree_names();
        assert!(names.iter().any(|n| n.as_ref() == b"cachekeys-v2"));
        assert!(names.iter().any(|n| n.as_ref() == b"odd"));
    }

    #[test]
    fn an_undecodable_record_is_an_error_naming_its_tree() {
        let dir = tempfile::tempdir().unwrap();
        let index = SledIndex::open(&dir.path().join("index")).unwrap();
        let key = Digest::of(b"key");
        index.steps.insert(key.bytes(), &b"{not json"[..]).unwrap();
        let err = index.step(&key).unwrap_err();
        assert!(err.to_string().contains("cachekeys-v1"), "{err}");
        assert!(index.steps().is_err());
        // A short file-hash record reads as absent: the file is simply hashed again.
        index.files.insert(b"/ctx/f", &b"short"[..]).unwrap();
        assert_eq!(index.file_hash(b"/ctx/f").unwrap(), None);
    }
}
