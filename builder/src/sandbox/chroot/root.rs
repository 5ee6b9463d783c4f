//! A working root: the stage's filesystem as a plain directory the command is chrooted into,
//! made from the snapshots once and kept across the stage's steps (as Kaniko keeps its root).
//!
//! It knows which snapshots it holds. A step whose lowers are the previous step's upper (under
//! its snapshot name) on top of what the root holds — possibly with more layers above, such as
//! a COPY's — reuses it after those layers are applied; anything else gets a new root. The
//! previous upper is recognised by its directory's identity (the store renames the upper into
//! place: same inode, same birth time), or, where the store kept an identical snapshot it had
//! already, by the same contents ([`fingerprint`]).

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use strata_cache::{Digest, Hasher};

use super::entry::{self, content_xattrs, copy_leaf, io, Links};
use crate::error::Result;
use strata_oci::{is_opaque, is_whiteout_at};
use strata_oci::{xattr, MAX_DEPTH};

/// A working root on disk (removed when dropped).
#[derive(Debug)]
pub struct WorkingRoot {
    dir: PathBuf,
    /// The snapshots it holds, topmost first.
    lowers: Vec<PathBuf>,
    /// The last step's changes, on top of `lowers`: not yet known by their snapshot name.
    top: Option<UpperMark>,
}

/// How a step's upper dir is recognised once the store has renamed it.
#[derive(Debug)]
struct UpperMark {
    dev: u64,
    ino: u64,
    btime: Option<SystemTime>,
    fingerprint: Digest,
}

impl WorkingRoot {
    /// Makes a working root under `scratch` holding `lowers` (topmost first).
    pub fn materialise(scratch: &Path, lowers: &[PathBuf]) -> Result<WorkingRoot> {
        let dir = tempfile::Builder::new()
            .prefix("chroot-")
            .tempdir_in(scratch)
            .map_err(io(scratch))?
            .keep();
        let mut working = WorkingRoot {
            dir,
            lowers: Vec::new(),
            top: None,
        };
        for sub in [working.root(), working.stash()] {
            fs::create_dir(&sub).map_err(io(&sub))?;
        }
        let root = working.root();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).map_err(io(&root))?;
        for layer in lowers.iter().rev() {
            apply_layer(layer, &root)?;
        }
        working.lowers = lowers.to_vec();
        Ok(working)
    }

    /// The root directory the command sees as `/`.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// A directory beside the root (same filesystem) for what a step's mounts set aside.
    pub fn stash(&self) -> PathBuf {
        self.dir.join("stash")
    }

    /// How many layers of `lowers` (from the top) would have to be applied to this root to make
    /// it hold `lowers`; `None` when it cannot become that.
    pub fn distance(&self, lowers: &[PathBuf]) -> Option<usize> {
        let base = self.lowers.len();
        let above = lowers.len().checked_sub(base)?;
        if lowers[above..] != self.lowers[..] {
            return None;
        }
        match &self.top {
            None => Some(above),
            Some(mark) => {
                let renamed = above.checked_sub(1)?;
                mark.matches(&lowers[renamed]).then_some(renamed)
            }
        }
    }

    /// Applies the top `count` layers of `lowers` (see [`Self::distance`]); the root then
    /// holds `lowers`.
    pub fn advance(&mut self, lowers: &[PathBuf], count: usize) -> Result<()> {
        let root = self.root();
        for layer in lowers[..count].iter().rev() {
            apply_layer(layer, &root)?;
        }
        self.lowers = lowers.to_vec();
        self.top = None;
        Ok(())
    }

    /// Records that a step over `lowers` ran here and left its changes in `upper` (`changed`
    /// false: it changed nothing, and the store makes no layer).
    pub fn ran(&mut self, lowers: &[PathBuf], upper: &Path, changed: bool) -> Result<()> {
        self.lowers = lowers.to_vec();
        self.top = if changed {
            let meta = fs::symlink_metadata(upper).map_err(io(upper))?;
            Some(UpperMark {
                dev: meta.dev(),
                ino: meta.ino(),
                btime: meta.created().ok(),
                fingerprint: fingerprint(upper)?,
            })
        } else {
            None
        };
        Ok(())
    }
}

impl Drop for WorkingRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl UpperMark {
    fn matches(&self, snapshot: &Path) -> bool {
        let Ok(meta) = fs::symlink_metadata(snapshot) else {
            return false;
        };
        let same_dir = meta.dev() == self.dev
            && meta.ino() == self.ino
            && self.btime.is_some()
            && meta.created().ok() == self.btime;
        same_dir || fingerprint(snapshot).is_ok_and(|f| f == self.fingerprint)
    }
}

/// Applies one snapshot dir onto `root` with overlay's rules: its entries replace what is
/// there, its whiteouts remove, its opaque directories replace the directory whole.
pub fn apply_layer(layer: &Path, root: &Path) -> Result<()> {
    apply_dir(layer, root, &mut Links::new(), 0)
}

fn apply_dir(src: &Path, dst: &Path, links: &mut Links, depth: usize) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(strata_oci::Error::TooDeep {
            path: src.display().to_string(),
            max: MAX_DEPTH,
        }
        .into());
    }
    for item in fs::read_dir(src).map_err(io(src))? {
        let item = item.map_err(io(src))?;
        let from = item.path();
        let to = dst.join(item.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io(&from))?;
        if is_whiteout_at(&from, &meta) {
            entry::remove(&to)?;
            continue;
        }
        let existing = fs::symlink_metadata(&to).ok();
        if meta.is_dir() {
            let keep = existing.is_some_and(|m| m.is_dir()) && !is_opaque(&from);
            if !keep {
                entry::remove(&to)?;
                fs::create_dir(&to).map_err(io(&to))?;
            }
            apply_dir(&from, &to, links, depth + 1)?;
            entry::set_meta(&to, &meta, &content_xattrs(&from)?)?;
        } else {
            if existing.is_some() {
                entry::remove(&to)?;
            }
            copy_leaf(&from, &meta, &to, links)?;
        }
    }
    Ok(())
}

/// A digest of everything a tree holds that a layer or a later overlay mount could tell
/// apart: names, types, owners, modes, times, device numbers, link targets, xattrs (overlay's
/// markers included) and contents.
pub fn fingerprint(dir: &Path) -> Result<Digest> {
    let mut hasher = Hasher::new();
    fingerprint_dir(dir, b"", &mut hasher, 0)?;
    Ok(hasher.finish())
}

fn fingerprint_dir(dir: &Path, rel: &[u8], hasher: &mut Hasher, depth: usize) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(strata_oci::Error::TooDeep {
            path: dir.display().to_string(),
            max: MAX_DEPTH,
        }
        .into());
    }
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(io(dir))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let mut child_rel = rel.to_vec();
        child_rel.push(b'/');
        child_rel.extend_from_slice(name.as_bytes());
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        hasher.update(&child_rel);
        hasher.update(b"\0");
        for number in [
            u64::from(meta.mode()),
            u64::from(meta.uid()),
            u64::from(meta.gid()),
            meta.mtime() as u64,
            meta.mtime_nsec() as u64,
            meta.len(),
            meta.rdev(),
        ] {
            hasher.update(&number.to_le_bytes());
        }
        for (key, value) in xattr::list(&path).map_err(io(&path))? {
            hasher.update(key.as_bytes());
            hasher.update(b"=");
            hasher.update(&(value.len() as u64).to_le_bytes());
            hasher.update(&value);
        }
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(io(&path))?;
            hasher.update(target.as_os_str().as_bytes());
        } else if meta.is_file() {
            let mut file = fs::File::open(&path).map_err(io(&path))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf).map_err(io(&path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        } else if meta.is_dir() {
            fingerprint_dir(&path, &child_rel, hasher, depth + 1)?;
        }
        hasher.update(b"\n");
    }
    Ok(())
}
