//! Opening a store root: directories, the lock, leftover cleanup, the index.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::blobs::Blobs;
use crate::containers::Containers;
use crate::error::Result;
use crate::index::{Index, SledIndex};
use crate::lock::RootLock;
use crate::private::{private_root, tighten_entries};
use crate::scratch::clean_tmp;
use crate::snapshots::Snapshots;

/// How to open a store.
pub struct OpenOptions<'a> {
    /// How long to wait for another strata process to release the root (default 5 minutes).
    /// After it, [`Store::open`] fails with [`Error::LockTimeout`].
    pub lock_timeout: Duration,
    /// Called once, with the root, when the lock turns out to be held by another process and
    /// we start waiting: the library does not print, the CLI says that it waits.
    pub on_wait: &'a dyn Fn(&Path),
}

impl Default for OpenOptions<'_> {
    fn default() -> Self {
        OpenOptions {
            lock_timeout: Duration::from_secs(300),
            on_wait: &|_| {},
        }
    }
}

/// The directory of `RUN --mount=type=cache` directories under the root.
pub const CACHE_MOUNTS_DIR: &str = "cache-mounts";

/// Work in progress under the root (blob temp files, scratch dirs, a sandbox's run dirs): on
/// the store's filesystem, so what is finished is renamed into place; emptied on open.
pub const TMP_DIR: &str = "tmp";

/// Where the registry client records in which repositories it saw each blob, so a push can
/// mount a blob instead of uploading it again. A hint, not data: a missing or broken file is
/// an empty record, and `prune --all` removes it. (Unversioned JSON: a future format takes a
/// new name.)
pub const BLOB_SOURCES_FILE: &str = "registry/blob-sources.json";

/// An open store: blobs, snapshots and the index under one root, held exclusively by this
/// process until dropped. Share it between threads by reference: every part is `Sync`.
pub struct Store {
    root: PathBuf,
    blobs: Blobs,
    snapshots: Snapshots,
    containers: Containers,
    index: SledIndex,
    /// What opening repaired, one sentence each.
    repairs: Vec<String>,
    _lock: RootLock,
}

impl Store {
    /// Opens (creating if needed) the store at `root`, waiting for the lock if another strata
    /// holds it, and removes what an interrupted process left in `tmp/`.
    ///
    /// The root and every directory in it are made private to their owner (0700) — an older
    /// store is tightened — and an index a full disk left unreadable is repaired; what was
    /// repaired is in [`Store::repairs`].
    pub fn open(root: &Path, options: &OpenOptions<'_>) -> Result<Store> {
        let mut repairs = Vec::new();
        if let Some(before) = private_root(root)? {
            repairs.push(format!(
                "store `{}` was open to other users (mode {before:04o}): made it {:04o}",
                root.display(),
                crate::private::PRIVATE_MODE
            ));
        }
        let lock = RootLock::acquire(root, options.lock_timeout, options.on_wait)?;
        let leftovers = clean_tmp(&root.join(TMP_DIR))?;
        if leftovers > 0 {
            tracing::info!(
                leftovers,
                "removed temp files an interrupted strata left behind"
            );
        }
        let index = SledIndex::open(&root.join("index"))?;
        repairs.extend(index.repairs().iter().cloned());
        let blobs = Blobs::new(root)?;
        let snapshots = Snapshots::new(root)?;
        let containers = Containers::new(root)?;
        // Last, once sled has made `index/` too. Quietly: under a private root nobody else
        // could reach them anyway.
        let tightened = tighten_entries(root)?;
        if !tightened.is_empty() {
            tracing::info!(?tightened, "made the store's directories private");
        }
        Ok(Store {
            blobs,
            snapshots,
            containers,
            index,
            root: root.to_path_buf(),
            repairs,
            _lock: lock,
        })
    }

    /// What opening found wrong and repaired, one sentence each (a store open to other users,
    /// an index a full disk left unreadable): the library does not print, the CLI shows them as
    /// warnings. Nothing committed is lost by any of them.
    pub fn repairs(&self) -> &[String] {
        &self.repairs
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blobs.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// The snapshots.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// Where `RUN --mount=type=cache` directories live, one per cache id: the store owns them
    /// (they are counted by `du` and removed by `prune --all`), the builder fills them.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root.join(CACHE_MOUNTS_DIR)
    }

    /// A directory for temporary files and directories on the store's filesystem (see
    /// [`TMP_DIR`]): emptied the next time the store is opened, whatever a process left there.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// The registry client's record of where blobs were seen (see [`BLOB_SOURCES_FILE`]); its
    /// directory may not exist yet.
    pub fn blob_sources_path(&self) -> PathBuf {
        self.root.join(BLOB_SOURCES_FILE)
    }

    /// The kept containers of `strata run`.
    pub fn containers(&self) -> &Containers {
        &self.containers
    }

    /// The index.
    pub fn index(&self) -> &dyn Index {
        &self.index
    }

    /// The sled index itself, for what only the on-disk index has (stale trees).
    pub(crate) fn sled(&self) -> &SledIndex {
        &self.index
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn a_store_is_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Store>();
    }

    #[test]
    fn open_lays_out_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new/root");
        let store = Store::open(&root, &OpenOptions::default()).unwrap();
        for sub in ["lock", "blobs/sha256", "snapshots", "index", "tmp"] {
            assert!(root.join(sub).exists(), "{sub}");
        }
        use std::os::unix::fs::PermissionsExt;
        for dir in ["", "blobs", "blobs/sha256", "snapshots", "index", "tmp"] {
            let mode = fs::metadata(root.join(dir)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "`{dir}` is private");
        }
        assert!(store.repairs().is_empty(), "{:?}", store.repairs());
        assert_eq!(store.root(), root);
        assert_eq!(store.tmp_dir(), root.join(TMP_DIR));
        assert!(store.blob_sources_path().starts_with(&root));
    }

    #[test]
    fn a_root_that_cannot_be_a_store_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "not a directory").unwrap();
        let err = Store::open(&file, &OpenOptions::default()).err().unwrap();
        assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
    }
}
