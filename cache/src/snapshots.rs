//! Snapshots: the unpacked files of one layer in `snapshots/<diffid-hex>/`, immutable once
//! installed and used by the builder as overlay lower dirs.
//!
//! A snapshot is prepared in a scratch dir under `tmp/` (a RUN's overlay upper dir, or a dir a
//! layer tar was unpacked into) and installed by renaming it: no copy, and never half-present.
//! Overlay whiteouts (0/0 character devices) and opaque xattrs survive the rename untouched.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::scratch::{remove_tree, unique_name, ScratchDir};

/// The snapshot directory of a store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Snapshots {
    pub(crate) fn new(root: &Path) -> Result<Self> {
        let dir = root.join("snapshots");
        crate::private::create_private_dir(&dir)?;
        Ok(Snapshots {
            dir,
            tmp: root.join(crate::store::TMP_DIR),
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
        let doomed = self
            .tmp
            .join(unique_name(&format!("gc-{}", &diff_id.hex()[..12])));
        match fs::rename(&path, &doomed) {
            Ok(()) => remove_tree(&doomed).map_err(|e| Error::io(&doomed, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The bytes a snapshot's files hold (apparent sizes, hard links counted once). It walks
    /// the tree, so it is for `du` and prune reports, not for hot paths.
    pub fn disk_size(&self, diff_id: &Digest) -> Result<u64> {
        let root = self.path(diff_id);
        if !root.is_dir() {
            return Err(Error::NotFound(format!("snapshot {diff_id}")));
        }
        tree_size(&root)
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

/// Sums file sizes under `root` without following symlinks, a hard-linked file once.
pub(crate) fn tree_size(root: &Path) -> Result<u64> {
    let mut tally = LinkTally::default();
    tally.add_tree(root)?;
    Ok(tally.total())
}

/// A non-directory's identity, link count and size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileLinks {
    dev: u64,
    ino: u64,
    links: u64,
    size: u64,
}

/// The non-directories under `root`, without following symlinks (a missing tree has none).
pub(crate) fn tree_files(root: &Path) -> Result<Vec<FileLinks>> {
    use std::os::unix::fs::MetadataExt;
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(entry.path(), e)),
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.push(FileLinks {
                    dev: meta.dev(),
                    ino: meta.ino(),
                    links: meta.nlink(),
                    size: meta.len(),
                });
            }
        }
    }
    Ok(files)
}

/// File sizes across several trees, a hard-linked file counted once. COPY reuse hard-links the
/// unchanged files of a snapshot into the next one, so summing snapshot sizes would count those
/// files once per snapshot, and removing one of them frees only the files none other links.
#[derive(Debug, Default)]
pub(crate) struct LinkTally {
    /// Bytes of files with one link.
    single: u64,
    /// Files with more links: (device, inode) → (links, links seen in the trees, size).
    shared: HashMap<(u64, u64), (u64, u64, u64)>,
}

impl LinkTally {
    /// Adds the files under `root` (a missing tree adds nothing).
    pub(crate) fn add_tree(&mut self, root: &Path) -> Result<()> {
        self.add_files(&tree_files(root)?);
        Ok(())
    }

    /// Adds files listed by [`tree_files`].
    pub(crate) fn add_files(&mut self, files: &[FileLinks]) {
        for file in files {
            if file.links <= 1 {
                self.single += file.size;
            } else {
                let entry = self
                    .shared
                    .entry((file.dev, file.ino))
                    .or_insert((file.links, 0, file.size));
                entry.1 += 1;
            }
        }
    }

    /// Bytes the trees hold, each file once.
    pub(crate) fn total(&self) -> u64 {
        self.single + self.shared.values().map(|&(_, _, size)| size).sum::<u64>()
    }

    /// Bytes that removing all the trees would free: files with no link outside them.
    pub(crate) fn freed(&self) -> u64 {
        self.single
            + self
                .shared
                .values()
                .filter(|&&(links, seen, _)| seen >= links)
                .map(|&(_, _, size)| size)
                .sum::<u64>()
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

    const OPAQUE: &str = "trusted.overlay.opaque";

    #[test]
    fn install_keeps_overlay_whiteouts_and_opaque_xattrs() {
        use rustix::fs::{FileType, Mode, XattrFlags, CWD};
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        if strata_testkit::skip_unless(
            strata_testkit::is_root(),
            "whiteout devices and trusted.* xattrs need root",
        ) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
        let upper = store.snapshots().scratch("upper").unwrap();
        let whiteout = upper.path().join("deleted");
        rustix::fs::mknodat(CWD, &whiteout, FileType::CharacterDevice, Mode::empty(), 0)
            .unwrap_or_else(|e| panic!("mknod: {e}"));
        fs::create_dir(upper.path().join("opaque")).unwrap();
        let opaque = upper.path().join("opaque");
        let set = rustix::fs::lsetxattr(&opaque, OPAQUE, b"y", XattrFlags::empty());
        if let Err(e) = set {
            strata_testkit::skip(&format!("this filesystem refuses trusted xattrs: {e}"));
            return;
        }
        let diff_id = Digest::of(b"overlay upper");
        let installed = store.snapshots().install(upper, &diff_id).unwrap();
        let meta = fs::symlink_metadata(installed.join("deleted")).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.rdev(), 0);
        let mut value = [0u8; 8];
        let n = rustix::fs::lgetxattr(installed.join("opaque"), OPAQUE, &mut value[..]);
        assert_eq!(n, Ok(1));
        assert_eq!(&value[..1], b"y");
    }

    #[test]
    fn snapshots_with_read_only_dirs_are_deleted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
        let scratch = store.snapshots().scratch("ro").unwrap();
        let locked = scratch.path().join("usr/lib");
        fs::create_dir_all(&locked).unwrap();
        fs::write(locked.join("lib.so"), vec![0u8; 1000]).unwrap();
        fs::hard_link(locked.join("lib.so"), scratch.path().join("link.so")).unwrap();
        std::os::unix::fs::symlink("/nowhere", scratch.path().join("dangling")).unwrap();
        for ro in [locked.clone(), scratch.path().join("usr")] {
            fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        }
        let diff_id = Digest::of(b"read-only");
        store.snapshots().install(scratch, &diff_id).unwrap();
        assert_eq!(store.snapshots().disk_size(&diff_id).unwrap(), 1000 + 8);
        store.snapshots().remove(&diff_id).unwrap();
        assert!(!store.snapshots().exists(&diff_id));
        assert!(store.snapshots().list().unwrap().is_empty());
        assert!(matches!(
            store.snapshots().disk_size(&diff_id),
            Err(Error::NotFound(_))
        ));
        // Removing what is not there is not an error (GC may race with nothing, but is re-run).
        store.snapshots().remove(&diff_id).unwrap();
    }

    #[test]
    fn an_abandoned_scratch_dir_disappears_and_leftovers_go_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let kept;
        {
            let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
            let dropped = store.snapshots().scratch("a").unwrap();
            let dropped_path = dropped.path().to_path_buf();
            fs::write(dropped_path.join("f"), "x").unwrap();
            drop(dropped);
            assert!(!dropped_path.exists());
            // A process killed mid-build leaves its scratch dirs: simulate with keep().
            kept = store.snapshots().scratch("b").unwrap().keep();
            fs::create_dir_all(kept.join("deep/er")).unwrap();
        }
        assert!(kept.exists());
        let _store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
        assert!(!kept.exists());
    }
}
