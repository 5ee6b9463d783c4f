//! Opening a store root: directories, the lock, leftover cleanup, the index.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::blobs::Blobs;
use crate::error::{Error, Result};
use crate::index::{Index, SledIndex};
use crate::lock::RootLock;
use crate::scratch::clean_tmp;
use crate::snapshots::Snapshots;

/// How to open a store.
pub struct OpenOptions<'a> {
    /// How long to wait for another strata process to release the root.
    pub lock_timeout: Duration,
    /// Called once if we have to wait for the lock.
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

/// An open store: blobs, snapshots and the index under one root, held exclusively.
pub struct Store {
    root: PathBuf,
    blobs: Blobs,
    snapshots: Snapshots,
    index: SledIndex,
    _lock: RootLock,
}

impl Store {
    /// Opens (creating if needed) the store at `root`, waiting for the lock if another strata
    /// holds it, and removes what an interrupted process left in `tmp/`.
    pub fn open(root: &Path, options: &OpenOptions<'_>) -> Result<Store> {
        fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let lock = RootLock::acquire(root, options.lock_timeout, options.on_wait)?;
        let leftovers = clean_tmp(&root.join("tmp"))?;
        if leftovers > 0 {
            tracing::info!(
                leftovers,
                "removed temp files an interrupted strata left behind"
            );
        }
        Ok(Store {
            blobs: Blobs::new(root)?,
            snapshots: Snapshots::new(root)?,
            index: SledIndex::open(&root.join("index"))?,
            root: root.to_path_buf(),
            _lock: lock,
        })
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

    /// The index.
    pub fn index(&self) -> &dyn Index {
        &self.index
    }

    /// The sled index itself, for what only the on-disk index has (stale trees).
    pub(crate) fn sled(&self) -> &SledIndex {
        &self.index
    }
}
