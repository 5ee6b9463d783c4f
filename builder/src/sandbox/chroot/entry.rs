//! Copying one filesystem entry with everything a layer records about it (type, content, link
//! target, device number, owner, mode, xattrs, mtime), and removing entries: the chroot
//! executor's working root is made of such copies, its changes leave it as such copies, and
//! `RUN --mount` sources go in and out this way.
//!
//! Never hard links between the store and the working root: the command writes to the working
//! root in place, and a snapshot must never change.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use strata_oci::xattr;

/// Hard links already made while copying one tree: (device, inode) of the source → the copy.
pub type Links = HashMap<(u64, u64), PathBuf>;

pub fn io(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn cpath(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"),
    })
}

/// The xattrs a copy carries: all but overlay's own markers (which say how a snapshot hides
/// lower layers, not what the file is).
pub fn content_xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(xattr::list(path)
        .map_err(io(path))?
        .into_iter()
        .filter(|(key, _)| !is_overlay_xattr(key))
        .collect())
}

/// overlayfs's own xattrs, in either namespace.
pub fn is_overlay_xattr(key: &str) -> bool {
    key.starts_with("trusted.overlay.") || key.starts_with("user.overlay.")
}

/// Copies the non-directory `src` (lstat'ed as `meta`) to the absent path `dst`, with its
/// metadata. A regular file linked more than once is hard-linked to its first copy in
/// `links`, so links within one tree stay links.
pub fn copy_leaf(src: &Path, meta: &fs::Metadata, dst: &Path, links: &mut Links) -> Result<()> {
    let kind = meta.file_type();
    if kind.is_file() && meta.nlink() > 1 {
        let key = (meta.dev(), meta.ino());
        if let Some(first) = links.get(&key) {
            return fs::hard_link(first, dst).map_err(io(dst));
        }
        links.insert(key, dst.to_path_buf());
    }
    if kind.is_file() {
        copy_content(src, dst)?;
    } else if kind.is_symlink() {
        let target = fs::read_link(src).map_err(io(src))?;
        std::os::unix::fs::symlink(&target, dst).map_err(io(dst))?;
    } else {
        let file_type = if kind.is_char_device() {
            libc::S_IFCHR
        } else if kind.is_block_device() {
            libc::S_IFBLK
        } else if kind.is_fifo() {
            libc::S_IFIFO
        } else {
            libc::S_IFSOCK
        };
        mknod(dst, file_type, meta.rdev())?;
    }
    set_meta(dst, meta, &content_xattrs(src)?)
}

/// The file's bytes, by `copy_file_range` (a reflink where the filesystem shares extents).
fn copy_content(src: &Path, dst: &Path) -> Result<()> {
    let mut from = fs::File::open(src).map_err(io(src))?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(io(dst))?;
    io::copy(&mut from, &mut to).map_err(io(dst))?;
    Ok(())
}

/// Makes a node of `file_type` (device number `rdev`) at `path`.
pub fn mknod(path: &Path, file_type: libc::mode_t, rdev: u64) -> Result<()> {
    let c = cpath(path)?;
    // SAFETY: a NUL-terminated path; mknod touches no memory of ours.
    if unsafe { libc::mknod(c.as_ptr(), file_type | 0o600, rdev as libc::dev_t) } != 0 {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Gives `dst` the owner, mode, xattrs and mtime of `meta`: owner first (a chown clears
/// set-id bits), times last (everything before changes them).
pub fn set_meta(dst: &Path, meta: &fs::Metadata, xattrs: &[(String, Vec<u8>)]) -> Result<()> {
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())).map_err(io(dst))?;
    let symlink = meta.file_type().is_symlink();
    if !symlink {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io(dst))?;
    }
    for (key, value) in xattrs {
        xattr::set(dst, key, value).map_err(io(dst))?;
    }
    set_times(
        dst,
        (meta.atime(), meta.atime_nsec()),
        (meta.mtime(), meta.mtime_nsec()),
    )
}

/// Sets atime and mtime (seconds, nanoseconds) without following a final symlink.
pub fn set_times(path: &Path, atime: (i64, i64), mtime: (i64, i64)) -> Result<()> {
    let c = cpath(path)?;
    let spec = |(sec, nsec): (i64, i64)| libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    };
    let times = [spec(atime), spec(mtime)];
    // SAFETY: NUL-terminated path and a two-element timespec array.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// A directory's atime and mtime, to put back after the executor itself changed its entries.
#[derive(Debug, Clone, Copy)]
pub struct DirTimes {
    atime: (i64, i64),
    mtime: (i64, i64),
}

impl DirTimes {
    /// The times `path` has now.
    pub fn of(path: &Path) -> Result<DirTimes> {
        let meta = fs::symlink_metadata(path).map_err(io(path))?;
        Ok(DirTimes {
            atime: (meta.atime(), meta.atime_nsec()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        })
    }

    /// Gives them back to `path`.
    pub fn restore(&self, path: &Path) -> Result<()> {
        set_times(path, self.atime, self.mtime)
    }
}

/// Removes whatever is at `path` (a whole tree for a directory); nothing there is fine.
pub fn remove(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).map_err(io(path)),
        Ok(_) => fs::remove_file(path).map_err(io(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Copies the tree at `src` (a directory) into the existing directory `dst`, entries and
/// metadata, `dst`'s own metadata last.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links = Links::new();
    copy_children(src, dst, &mut links, 0)?;
    let meta = fs::symlink_metadata(src).map_err(io(src))?;
    set_meta(dst, &meta, &content_xattrs(src)?)
}

fn copy_children(src: &Path, dst: &Path, links: &mut Links, depth: usize) -> Result<()> {
    if depth > strata_oci::MAX_DEPTH {
        return Err(strata_oci::Error::TooDeep {
            path: src.display().to_string(),
            max: strata_oci::MAX_DEPTH,
        }
        .into());
    }
    for entry in fs::read_dir(src).map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io(&from))?;
        if meta.is_dir() {
            fs::create_dir(&to).map_err(io(&to))?;
            copy_children(&from, &to, links, depth + 1)?;
            set_meta(&to, &meta, &content_xattrs(&from)?)?;
        } else {
            copy_leaf(&from, &meta, &to, links)?;
        }
    }
    Ok(())
}

/// Moves the entries of `src` into the empty directory `dst` (renames; copies across
/// filesystems).
pub fn move_children(src: &Path, dst: &Path) -> Result<()> {
    for entry in fs::read_dir(src).map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let meta = fs::symlink_metadata(&from).map_err(io(&from))?;
                if meta.is_dir() {
                    fs::create_dir(&to).map_err(io(&to))?;
                    copy_tree(&from, &to)?;
                } else {
                    copy_leaf(&from, &meta, &to, &mut Links::new())?;
                }
            }
            Err(e) => return Err(io(&to)(e)),
        }
    }
    Ok(())
}
