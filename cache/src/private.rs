//! Keeping the store to its owner. Snapshots hold files exactly as a build or an imported
//! tarball made them — setuid-root binaries, files with capabilities, device nodes anyone may
//! open — so any user who can reach `snapshots/<id>/` could run them as root or open the
//! devices. The root is therefore 0700 and so is every directory directly in it (`blobs/`,
//! `snapshots/`, `tmp/`, `index/`, the builder's `cache-mounts/`…): nothing under it is
//! reachable by other users, whatever modes the files inside have. Docker does the same with
//! `/var/lib/docker` (0710) and its `overlay2/` (0710, since CVE-2021-41091).
//!
//! A store made by an older strata (0755) is tightened when it is opened. The builder's RUN
//! steps are unaffected: overlay lower dirs and bind-mount sources are looked up by root when
//! they are mounted, and a process inside the sandbox never walks the host path to them.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The mode of the root and of every directory directly in it.
pub(crate) const PRIVATE_MODE: u32 = 0o700;

/// Creates `dir` (and missing parents) with mode 0700, or leaves an existing one as it is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_MODE)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Creates the store root as a 0700 directory (its parents as usual), or tightens an existing
/// one. Returns the mode it had when it had to be tightened.
pub(crate) fn private_root(root: &Path) -> Result<Option<u32>> {
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    match fs::DirBuilder::new().mode(PRIVATE_MODE).create(root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(root, e)),
    }
    let meta = fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::io(root, rustix::io::Errno::NOTDIR.into()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    // A directory shared by design (`/tmp`, `/var/tmp`: sticky) and already holding others'
    // files must not be closed to everyone else; it cannot be a store root. An empty one (a
    // fresh tmpfs mount is 1777) is simply made the store's.
    let empty = || {
        fs::read_dir(root)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false)
    };
    if mode & 0o1000 != 0 && !empty() {
        return Err(Error::SharedRoot {
            root: root.to_path_buf(),
            mode,
        });
    }
    tighten(root, mode)
}

/// Tightens every directory directly in `root` (following symlinks: a `snapshots/` moved to
/// another disk is what must be closed). Returns those that were open to others.
pub(crate) fn tighten_entries(root: &Path) -> Result<Vec<(PathBuf, u32)>> {
    let mut tightened = Vec::new();
    for entry in fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let path = entry.map_err(|e| Error::io(root, e))?.path();
        let Ok(meta) = fs::metadata(&path) else {
            continue; // a dangling symlink: nothing to reach through it
        };
        if meta.is_dir() {
            if let Some(before) = tighten(&path, meta.permissions().mode() & 0o7777)? {
                tightened.push((path, before));
            }
        }
    }
    Ok(tightened)
}

/// Sets `dir` to 0700 if group or others have any access; returns the mode it had then.
fn tighten(dir: &Path, mode: u32) -> Result<Option<u32>> {
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_MODE))
        .map_err(|e| Error::io(dir, e))?;
    Ok(Some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_root_is_private_and_an_open_one_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b/root");
        assert_eq!(private_root(&root).unwrap(), None);
        assert_eq!(mode(&root), 0o700);
        // Parents are made as usual: they are not the store's to close.
        assert_eq!(mode(&dir.path().join("a")), 0o777 & !umask());

        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(private_root(&root).unwrap(), Some(0o755));
        assert_eq!(mode(&root), 0o700);
        assert_eq!(private_root(&root).unwrap(), None);
    }

    #[test]
    fn a_shared_sticky_directory_is_refused_and_left_as_it_is_unless_empty() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        fs::write(shared.join("someone's"), "").unwrap();
        let err = private_root(&shared).unwrap_err();
        assert!(err.to_string().contains("shared"), "{err}");
        assert_eq!(mode(&shared), 0o1777);
        // An empty one (a fresh tmpfs mount) becomes the store's.
        fs::remove_file(shared.join("someone's")).unwrap();
        assert_eq!(private_root(&shared).unwrap(), Some(0o1777));
        assert_eq!(mode(&shared), 0o700);
    }

    #[test]
    fn directories_in_the_root_are_tightened_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("open")).unwrap();
        fs::set_permissions(root.join("open"), fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&root.join("closed")).unwrap();
        fs::write(root.join("lock"), "").unwrap();
        fs::set_permissions(root.join("lock"), fs::Permissions::from_mode(0o644)).unwrap();
        let tightened = tighten_entries(root).unwrap();
        assert_eq!(tightened, vec![(root.join("open"), 0o755)]);
        assert_eq!(mode(&root.join("open")), 0o700);
        assert_eq!(mode(&root.join("closed")), 0o700);
        assert_eq!(mode(&root.join("lock")), 0o644);
    }

    fn umask() -> u32 {
        use rustix::fs::Mode;
        // umask can only be read by swapping it; the old mask goes back at once.
        let mask = rustix::process::umask(Mode::from_raw_mode(0o022));
        rustix::process::umask(mask);
        mask.as_raw_mode()
    }
}
