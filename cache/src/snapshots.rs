//! Snapshots: the unpacked files of one layer in `snapshots/<diffid-hex>/`, immutable once
//! installed and used by the builder as overlay lower dirs.
//!
//! A snapshot is prepared in a scratch dir under `tmp/` (a RUN's overlay upper dir, or a dir a
//! layer tar was unpacked into) and installed by renaming it: no copy, and never half-present.
//! Overlay whiteouts (0/0 character devices) and opaque xattrs survive the rename untouched.

use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::scratch::{remove_tree, ScratchDir};

/// The snapshot directory of a store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Snapshots {
    pub(crate) fn new(root: &Path) -> Result<Self> {
        let dir = root.join("snapshots");
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Snapshots {
            dir,
            tmp: root.join("tmp"),
        })
    }

    /// A fresh empty directory on the store's filesystem, removed on drop unless installed.
    pub fn scratch(&self, prefix: &str) -> Result<ScratchDir> {
        ScratchDir::create(&self.tmp, prefix)
    }

    /// Where the snapshot for `diff_id` lives.
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// Whether it is installed.
    pub fn exists(&self, diff_id: &Digest) -> bool {
        self.path(diff_id).is_dir()
    }

    /// Installs `dir` as the snapshot of `diff_id` by renaming it. If the snapshot already
    /// exists (the same layer built twice), `dir` is discarded: equal DiffIDs mean equal files.
    pub fn install(&self, dir: ScratchDir, diff_id: &Digest) -> Result<PathBuf> {
        let target = self.path(diff_id);
        if target.is_dir() {
            drop(dir);
            return Ok(target);
        }
        let source = dir.keep();
        match fs::rename(&source, &target) {
            Ok(()) => Ok(target),
            Err(_) if target.is_dir() => {
                let _ = remove_tree(&source);
                Ok(target)
            }
            Err(e) => {
                let _ = remove_tree(&source);
                Err(Error::io(&target, e))
            }
        }
    }

    /// Deletes a snapshot (GC only).
    pub fn remove(&self, diff_id: &Digest) -> Result<()> {
        let path = self.path(diff_id);
        // Move it out of the way first, so a crash mid-delete never leaves a partial snapshot
        // under its DiffID name.
        let doomed = self.tmp.join(format!("gc-{}", diff_id.hex()));
        match fs::rename(&path, &doomed) {
            Ok(()) => remove_tree(&doomed).map_err(|e| Error::io(&doomed, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Every installed snapshot.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            if let Some(Ok(digest)) = entry.file_name().to_str().map(Digest::from_hex) {
                out.push(digest);
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

    #[test]
    fn install_renames_and_a_second_install_of_the_same_layer_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
        let diff_id = Digest::of(b"layer");
        let first = store.snapshots().scratch("upper").unwrap();
        fs::write(first.path().join("f"), "one").unwrap();
        let scratch_path = first.path().to_path_buf();
        let installed = store.snapshots().install(first, &diff_id).unwrap();
        assert!(!scratch_path.exists(), "moved, not copied");
        assert_eq!(fs::read_to_string(installed.join("f")).unwrap(), "one");
        let second = store.snapshots().scratch("upper").unwrap();
        fs::write(second.path().join("f"), "two").unwrap();
        store.snapshots().install(second, &diff_id).unwrap();
        assert_eq!(fs::read_to_string(installed.join("f")).unwrap(), "one");
        assert_eq!(store.snapshots().list().unwrap(), vec![diff_id]);
        store.snapshots().remove(&diff_id).unwrap();
        assert!(!store.snapshots().exists(&diff_id));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
