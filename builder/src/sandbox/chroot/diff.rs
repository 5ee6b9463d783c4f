//! A step's changes, from the pictures of the working root before and after the command,
//! written into the step's upper dir exactly as overlayfs would have left them there, so the
//! layer writer makes the same tar the namespaces sandbox gives:
//!
//! - a new or changed file, link or node is copied up with its metadata, and so is a file the
//!   command opened for writing and left as it was (overlay copies up on such an open);
//! - a removed entry becomes a whiteout (a 0/0 character device, or overlay's xattr form where
//!   that mknod is refused), only at the top of what went;
//! - a directory that is new, or whose metadata changed, or under which anything changed, is
//!   in the upper dir with its metadata (overlay copies every parent of a change up);
//! - a directory removed and made again is opaque, with all it holds: overlay marks a directory
//!   created over a whiteout so (a directory replacing a file holds it all too, unmarked: the
//!   namespaces sandbox drops markers that hide no lower directory, see `opaque.rs`);
//! - a file replacing a directory needs no whiteouts below it: it hides the directory.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::entry::{self, content_xattrs, copy_leaf, io, Links};
use super::scan::{Node, Picture, Stat};
use crate::error::Result;

/// Writes the changes from `before` to `after` (pictures of `root`) into the empty `upper`;
/// returns whether there were any.
pub fn write_changes(
    root: &Path,
    before: &Picture,
    after: &Picture,
    touched: &HashSet<PathBuf>,
    upper: &Path,
) -> Result<bool> {
    let mut writer = UpperWriter {
        root,
        upper,
        touched,
        links: Links::new(),
        dirs: Vec::new(),
    };
    let any = writer.dir(Path::new(""), &before.root.children, &after.root.children)?;
    writer.finish()?;
    Ok(any)
}

struct UpperWriter<'a> {
    root: &'a Path,
    upper: &'a Path,
    /// Files opened for writing (see `watch.rs`): overlay copied them up, changed or not.
    touched: &'a HashSet<PathBuf>,
    links: Links,
    /// Directories made in the upper dir, each after its parent: their metadata is set last,
    /// in reverse, once nothing is added to them any more.
    dirs: Vec<PathBuf>,
}

/// Whether a non-directory entry changed (any compared fact differs). One exception: an
/// inode that only lost a link (another of its names was removed) is unchanged for this name.
/// Overlay never changes a lower file for what is done to its other names; here the names
/// share one inode, whose ctime moves with its link count.
fn leaf_changed(before: &Stat, after: &Stat) -> bool {
    if before == after {
        return false;
    }
    let lost_a_link = after.nlink < before.nlink
        && Stat {
            ctime: before.ctime,
            nlink: before.nlink,
            ..after.clone()
        } == *before;
    !lost_a_link
}

/// Whether a directory that is still the same inode changed itself (overlay copies it up on
/// any metadata change: chmod, chown, utimes, xattrs, an entry made or removed).
fn dir_changed(before: &Stat, after: &Stat) -> bool {
    before.mode != after.mode
        || before.uid != after.uid
        || before.gid != after.gid
        || before.mtime != after.mtime
        || before.ctime != after.ctime
}

impl UpperWriter<'_> {
    /// Compares one directory's children; returns whether anything at or below them changed.
    fn dir(
        &mut self,
        rel: &Path,
        before: &BTreeMap<OsString, Node>,
        after: &BTreeMap<OsString, Node>,
    ) -> Result<bool> {
        let mut any = false;
        for (name, now) in after {
            let child = rel.join(name);
            let Some(was) = before.get(name) else {
                self.add(&child, now, false)?;
                any = true;
                continue;
            };
            match (was.stat.is_dir(), now.stat.is_dir()) {
                (true, true) if was.stat.same_inode(&now.stat) => {
                    // A change below made this directory (and its parents) on the way.
                    let below = self.dir(&child, &was.children, &now.children)?;
                    if below || dir_changed(&was.stat, &now.stat) {
                        self.ensure_dir(&child)?;
                        any = true;
                    }
                }
                (was_dir, true) => {
                    // Opaque only where it hides a directory (see `opaque.rs`).
                    self.add(&child, now, was_dir)?;
                    any = true;
                }
                (_, false) => {
                    if was.stat.is_dir()
                        || leaf_changed(&was.stat, &now.stat)
                        || self.touched.contains(&child)
                    {
                        self.add(&child, now, false)?;
                        any = true;
                    }
                }
            }
        }
        for name in before.keys() {
            if !after.contains_key(name) {
                self.whiteout(&rel.join(name))?;
                any = true;
            }
        }
        Ok(any)
    }

    /// Makes `rel` and its missing parents in the upper dir (metadata comes in `finish`).
    fn ensure_dir(&mut self, rel: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut current = Some(rel);
        while let Some(path) = current.filter(|p| !p.as_os_str().is_empty()) {
            if self.upper.join(path).exists() {
                break;
            }
            missing.push(path.to_path_buf());
            current = path.parent();
        }
        for path in missing.into_iter().rev() {
            let host = self.upper.join(&path);
            fs::create_dir(&host).map_err(io(&host))?;
            self.dirs.push(path);
        }
        Ok(())
    }

    /// Copies the entry at `rel` (and, for a directory, everything below it that the picture
    /// holds) into the upper dir; an opaque directory hides what lower layers had there.
    fn add(&mut self, rel: &Path, node: &Node, opaque: bool) -> Result<()> {
        if let Some(parent) = rel.parent() {
            self.ensure_dir(parent)?;
        }
        let host = self.root.join(rel);
        let target = self.upper.join(rel);
        if !node.stat.is_dir() {
            let meta = fs::symlink_metadata(&host).map_err(io(&host))?;
            return copy_leaf(&host, &meta, &target, &mut self.links);
        }
        fs::create_dir(&target).map_err(io(&target))?;
        self.dirs.push(rel.to_path_buf());
        if opaque {
            strata_oci::mark_opaque(&target).map_err(io(&target))?;
        }
        for (name, child) in &node.children {
            self.add(&rel.join(name), child, false)?;
        }
        Ok(())
    }

    fn whiteout(&mut self, rel: &Path) -> Result<()> {
        if let Some(parent) = rel.parent() {
            self.ensure_dir(parent)?;
        }
        let path = self.upper.join(rel);
        strata_oci::make_whiteout(&path).map_err(io(&path))
    }

    /// Gives every directory made in the upper dir its metadata from the working root,
    /// children before parents (making entries changes a directory's mtime).
    fn finish(self) -> Result<()> {
        for rel in self.dirs.iter().rev() {
            let host = self.root.join(rel);
            let meta = fs::symlink_metadata(&host).map_err(io(&host))?;
            // The opaque marker stays: set_meta adds xattrs, it removes none.
            entry::set_meta(&self.upper.join(rel), &meta, &content_xattrs(&host)?)?;
        }
        Ok(())
    }
}
