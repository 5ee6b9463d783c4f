//! `build -o type=local,dest=DIR`: an image's flattened filesystem written into a directory,
//! as BuildKit's local exporter and buildx receiving it write one.
//!
//! - Merged into what `DIR` holds: an entry the image has replaces the one of the same name
//!   (a directory is merged into an existing directory), everything else is left alone.
//! - Each entry keeps its type, mode, mtime and extended attributes (best effort, overlay's
//!   own left out); hard links within the image stay hard links.
//! - Files belong to whoever runs strata, as buildx gives them to the calling user: the
//!   image's uids mean nothing on the host, and a CI job must be able to delete what it got.
//! - Nothing is written outside `DIR`: the image's symlinks are created, never followed, and
//!   a symlink already in `DIR` where the image has a directory is replaced by one.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};
use strata_cache::Store;

use super::export::view_of;
use crate::error::{Error, Result};
use crate::image::StoredImage;
use crate::layer::xattr;
use crate::rootfs::{Found, LayerStack};

/// The namespace of overlayfs's own xattrs (opaque directories, redirects), which mean
/// something only inside the store.
const OVERLAY_XATTRS: &str = "trusted.overlay.";

/// Writes the flattened filesystem of `image` into `dest` (made if missing).
pub fn export_dir(store: &Store, image: &StoredImage, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).map_err(|e| io_error(dest, e))?;
    let mut writer = DirWriter {
        view: view_of(store, image),
        links: HashMap::new(),
        dirs: Vec::new(),
    };
    writer.write_children("/", dest)?;
    // Directory modes and mtimes last: writing their entries would change the mtimes, and a
    // read-only directory could not be filled.
    for (path, meta) in writer.dirs.iter().rev() {
        apply_meta(path, meta, false)?;
    }
    Ok(())
}

struct DirWriter {
    view: LayerStack,
    /// (device, inode) of files with several links → where the first was written.
    links: HashMap<(u64, u64), PathBuf>,
    /// Directories written, with the metadata to give them once their entries are in.
    dirs: Vec<(PathBuf, Metadata)>,
}

impl DirWriter {
    fn write_children(&mut self, image_dir: &str, host_dir: &Path) -> Result<()> {
        for (name, found) in self.view.read_dir(image_dir)? {
            let image_path = format!("{}/{name}", image_dir.trim_end_matches('/'));
            let target = host_dir.join(&name);
            self.write_entry(&image_path, &target, found)?;
        }
        Ok(())
    }

    fn write_entry(&mut self, image_path: &str, target: &Path, found: Found) -> Result<()> {
        let meta = found.meta;
        let file_type = meta.file_type();
        if file_type.is_dir() {
            match fs::symlink_metadata(target) {
                Ok(existing) if existing.is_dir() => {}
                Ok(_) => {
                    remove_existing(target)?;
                    fs::create_dir(target).map_err(|e| io_error(target, e))?;
                }
                Err(_) => fs::create_dir(target).map_err(|e| io_error(target, e))?,
            }
            copy_xattrs(&found.host_path, target);
            self.write_children(image_path, target)?;
            self.dirs.push((target.to_path_buf(), meta));
            return Ok(());
        }
        if file_type.is_socket() {
            // Sockets are not content (BuildKit's exporters leave them out too).
            return Ok(());
        }
        remove_existing(target)?;
        if file_type.is_symlink() {
            let link =
                fs::read_link(&found.host_path).map_err(|e| io_error(&found.host_path, e))?;
            std::os::unix::fs::symlink(&link, target).map_err(|e| io_error(target, e))?;
            return apply_meta(target, &meta, true);
        }
        if file_type.is_file() && meta.nlink() > 1 {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                return fs::hard_link(first, target).map_err(|e| io_error(target, e));
            }
            self.links
                .insert((meta.dev(), meta.ino()), target.to_path_buf());
        }
        if file_type.is_file() {
            let copied = fs::copy(&found.host_path, target).map_err(|e| io_error(target, e))?;
            if copied != meta.len() {
                return Err(Error::Image {
                    reason: format!("`{image_path}` changed size while exporting"),
                });
            }
        } else {
            let kind = if file_type.is_char_device() {
                FileType::CharacterDevice
            } else if file_type.is_block_device() {
                FileType::BlockDevice
            } else {
                FileType::Fifo
            };
            rustix::fs::mknodat(CWD, target, kind, Mode::RUSR | Mode::WUSR, meta.rdev())
                .map_err(|e| io_error(target, e.into()))?;
        }
        copy_xattrs(&found.host_path, target);
        apply_meta(target, &meta, false)
    }
}

/// Removes what is at `path` (a directory with its contents), if anything.
fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).map_err(|e| io_error(path, e)),
        Ok(_) => fs::remove_file(path).map_err(|e| io_error(path, e)),
        Err(_) => Ok(()),
    }
}

/// Copies extended attributes, as buildx's receiver does: those the host refuses
/// (`trusted.*` without privileges, a filesystem without xattrs) are left behind, and
/// overlayfs's own never leave the store.
fn copy_xattrs(from: &Path, to: &Path) {
    let Ok(attrs) = xattr::list(from) else {
        return;
    };
    for (name, value) in attrs {
        if !name.starts_with(OVERLAY_XATTRS) {
            let _ = xattr::set(to, &name, &value);
        }
    }
}

/// Gives `path` the entry's permission bits (not for symlinks, which have none) and mtime.
fn apply_meta(path: &Path, meta: &Metadata, symlink: bool) -> Result<()> {
    if !symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| io_error(path, e))?;
    }
    let time = Timespec {
        tv_sec: meta.mtime(),
        tv_nsec: meta.mtime_nsec(),
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io_error(path, e.into()))
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Two layers: the upper one replaces a file, deletes nothing, adds a symlink and a hard
    /// link pair; the view written out merges into a directory that already has files.
    #[test]
    fn the_flattened_view_merges_into_the_directory() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        fs::create_dir_all(lower.path().join("etc")).unwrap();
        fs::write(lower.path().join("etc/motd"), "lower").unwrap();
        fs::write(lower.path().join("etc/keep"), "kept").unwrap();
        fs::create_dir_all(upper.path().join("etc")).unwrap();
        fs::write(upper.path().join("etc/motd"), "upper").unwrap();
        fs::set_permissions(
            upper.path().join("etc/motd"),
            fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        symlink("/etc/motd", upper.path().join("motd")).unwrap();
        fs::write(upper.path().join("a"), "same inode").unwrap();
        fs::hard_link(upper.path().join("a"), upper.path().join("b")).unwrap();
        // Already in the output: a stray file stays, `etc` as a symlink out is replaced.
        fs::write(out.path().join("stray"), "mine").unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        symlink(elsewhere.path(), out.path().join("etc")).unwrap();

        let mut writer = DirWriter {
            view: LayerStack::new(vec![upper.path().into(), lower.path().into()]),
            links: HashMap::new(),
            dirs: Vec::new(),
        };
        writer.write_children("/", out.path()).unwrap();
        for (path, meta) in writer.dirs.iter().rev() {
            apply_meta(path, meta, false).unwrap();
        }

        let read = |p: &str| fs::read_to_string(out.path().join(p)).unwrap();
        assert_eq!(read("etc/motd"), "upper");
        assert_eq!(read("etc/keep"), "kept");
        assert_eq!(read("stray"), "mine");
        assert!(fs::symlink_metadata(out.path().join("etc"))
            .unwrap()
            .is_dir());
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        let mode = fs::metadata(out.path().join("etc/motd")).unwrap().mode();
        assert_eq!(mode & 0o7777, 0o640);
        assert_eq!(
            fs::read_link(out.path().join("motd")).unwrap(),
            Path::new("/etc/motd")
        );
        let (a, b) = (
            fs::metadata(out.path().join("a")).unwrap(),
            fs::metadata(out.path().join("b")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "hard links stay linked");
    }
}
