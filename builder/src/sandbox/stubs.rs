//! Mount points the sandbox needs but the image may lack.
//!
//! Mounting onto a path that does not exist means creating it first, and anything created in
//! the merged view lands in the upper dir — in the layer — and even creating a file in an
//! existing `/etc` copies `/etc` itself up. So, as docker's "init layer" does, missing mount
//! points are made in an extra read-only lower dir on top of the image's layers, whose parent
//! directories mirror the image's metadata (overlay copies a directory up from the topmost
//! lower that has it). The upper dir then holds only what the command changed.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rootfs::LayerStack;

/// Directories the sandbox mounts on.
const MOUNT_DIRS: [&str; 3] = ["proc", "dev", "sys"];
/// Files the sandbox bind-mounts.
const MOUNT_FILES: [&str; 3] = ["etc/resolv.conf", "etc/hosts", "etc/hostname"];

/// Makes the init layer in `dir` if the image lacks any mount point; returns it, or `None`.
pub fn init_layer(image: &LayerStack, dir: &Path) -> Result<Option<PathBuf>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut made = false;
    for name in MOUNT_DIRS {
        if image.lookup(name)?.is_none() {
            let path = dir.join(name);
            fs::create_dir_all(&path).map_err(io(&path))?;
            made = true;
        }
    }
    for name in MOUNT_FILES {
        if image.lookup(name)?.is_none() {
            let path = dir.join(name);
            let parent = path.parent().expect("etc/…");
            if !parent.exists() {
                fs::create_dir_all(parent).map_err(io(parent))?;
                mirror_dir(image, "etc", parent)?;
            }
            fs::write(&path, b"").map_err(io(&path))?;
            made = true;
        }
    }
    Ok(made.then(|| dir.to_path_buf()))
}

/// Gives `host_dir` the mode, owner and mtime the image's `image_path` has (if it has it).
fn mirror_dir(image: &LayerStack, image_path: &str, host_dir: &Path) -> Result<()> {
    let Some(found) = image.lookup(image_path)? else {
        return Ok(());
    };
    let meta = found.meta;
    let fail = |source| Error::Io {
        path: host_dir.to_path_buf(),
        source,
    };
    std::os::unix::fs::lchown(host_dir, Some(meta.uid()), Some(meta.gid())).map_err(fail)?;
    fs::set_permissions(host_dir, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(fail)?;
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::new(meta.mtime() as u64, meta.mtime_nsec() as u32);
    fs::File::open(host_dir)
        .and_then(|f| f.set_modified(time))
        .map_err(fail)?;
    Ok(())
}
