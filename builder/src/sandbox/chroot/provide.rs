//! What the namespaces sandbox mounts into the root, provided without mounting anything:
//!
//! - `/dev` with docker's default device nodes (made with mknod; docker's default capabilities
//!   include CAP_MKNOD) and `/dev/shm` as a plain directory; `/proc` and `/sys` as empty
//!   directories (procfs and sysfs cannot be mounted without mount rights, and a bind of the
//!   pod's `/proc` would hand the command `/proc/1/root`, the pod's own root);
//! - `/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname` written in (the pod's resolver: the
//!   command shares the pod's network);
//! - `RUN --mount`s copied in before the command and out after it: a cache mount's contents
//!   go back to the cache, everything else is dropped, and whatever the image had at the
//!   target is put back.
//!
//! All of these are left out of the pictures the step's changes come from ([`Ignore`]), as
//! mount points are out of the namespaces sandbox's upper dir. Directories the executor
//! touches get their mtimes back, so a later step that changes something in them writes the
//! image's mtime, as overlay would.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::super::prepare::{DEVICES, HOSTNAME};
use super::super::stubs::ETC_FILES;
use super::super::{ExtraMount, MountFrom};
use super::entry::{self, content_xattrs, copy_leaf, io, DirTimes, Links};
use super::scan::Ignore;
use crate::error::{Error, Result};
use strata_oci::LayerStack;

/// Directories the sandbox mounts over (left out of every picture).
const MOUNT_DIRS: [&str; 3] = ["proc", "dev", "sys"];

/// Makes `/proc`, `/dev` (with its nodes), `/sys` and the `/etc` files in `root`, returning
/// the paths to leave out of the pictures and what the user should be told (nodes that could
/// not be made or opened).
pub fn provide(root: &Path, resolv_conf: &[u8]) -> Result<(Ignore, Vec<String>)> {
    let mut ignore = Ignore::default();
    let mut warnings = Vec::new();
    for name in MOUNT_DIRS {
        let dir = root.join(name);
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            entry::remove(&dir)?;
            fs::create_dir(&dir).map_err(io(&dir))?;
        }
        ignore.add(name);
    }
    devices(&root.join("dev"), &mut warnings)?;
    let etc = LayerStack::new(vec![root.to_path_buf()])
        .resolve("/etc")
        .ok()
        .map(|p| p.trim_start_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "etc".into());
    let etc_dir = root.join(&etc);
    if !fs::symlink_metadata(&etc_dir).is_ok_and(|m| m.is_dir()) {
        entry::remove(&etc_dir)?;
        fs::create_dir_all(&etc_dir).map_err(io(&etc_dir))?;
    }
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{HOSTNAME}\n"
    );
    let hostname = format!("{HOSTNAME}\n");
    let contents: [&[u8]; 3] = [resolv_conf, hosts.as_bytes(), hostname.as_bytes()];
    let times = DirTimes::of(&etc_dir)?;
    let mut touched = false;
    for (name, content) in ETC_FILES.iter().zip(contents) {
        let rel = Path::new(&etc).join(name);
        let path = root.join(&rel);
        ignore.add(rel);
        let current = fs::symlink_metadata(&path).ok();
        if current.as_ref().is_some_and(|m| m.is_file()) {
            if fs::read(&path).map_err(io(&path))? != content {
                fs::write(&path, content).map_err(io(&path))?;
            }
            continue;
        }
        // Missing, or a symlink (often to `../run/systemd/resolve/stub-resolv.conf`): a file
        // of strata's takes its place, as the namespaces sandbox's bind does.
        entry::remove(&path)?;
        fs::write(&path, content).map_err(io(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).map_err(io(&path))?;
        touched = true;
    }
    if touched {
        times.restore(&etc_dir)?;
    }
    Ok((ignore, warnings))
}

/// docker's default device nodes, `/dev/pts`, `/dev/shm` and the `/dev/fd` links.
fn devices(dev: &Path, warnings: &mut Vec<String>) -> Result<()> {
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        let rdev = libc::makedev(major, minor);
        let usable = fs::symlink_metadata(&path)
            .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == rdev);
        if usable {
            continue;
        }
        entry::remove(&path)?;
        match entry::mknod(&path, libc::S_IFCHR, rdev) {
            Ok(()) => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).map_err(io(&path))?
            }
            Err(e) => warnings.push(format!(
                "chroot isolation: cannot make /dev/{name} ({e}); RUN steps run without it"
            )),
        }
    }
    if fs::symlink_metadata(dev.join("null")).is_ok()
        && fs::OpenOptions::new()
            .write(true)
            .open(dev.join("null"))
            .is_err()
    {
        warnings.push(
            "chroot isolation: device nodes cannot be opened where the store is (a `nodev` \
             filesystem?); RUN steps that use /dev/null will fail: put the store (--root) on \
             another filesystem"
                .into(),
        );
    }
    for (name, mode) in [("pts", 0o755), ("shm", 0o1777)] {
        let path = dev.join(name);
        if !path.is_dir() {
            entry::remove(&path)?;
            fs::create_dir(&path).map_err(io(&path))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io(&path))?;
        }
    }
    for (target, name) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ] {
        let path = dev.join(name);
        if fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(target, &path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// A `RUN --mount` copied into the working root, and what undoes it.
#[derive(Debug)]
pub struct Placed {
    /// The target, relative to the root.
    rel: PathBuf,
    /// Where the image's entry at the target was set aside.
    stash: Option<PathBuf>,
    /// Parents made for the target (relative), outermost first.
    created: Vec<PathBuf>,
    /// A cache mount's directory, which gets the target's contents back.
    sync_to: Option<PathBuf>,
    /// The nearest directory that existed before (relative), whose mtime is kept.
    kept: PathBuf,
}

/// Copies the mounts into `root` (parents before children), setting aside what the image has
/// at their targets in `stash`; their targets join `ignore`.
pub fn place_mounts(
    root: &Path,
    stash: &Path,
    mounts: &[ExtraMount],
    ignore: &mut Ignore,
) -> Result<Vec<Placed>> {
    let image = LayerStack::new(vec![root.to_path_buf()]);
    let mut resolved = Vec::with_capacity(mounts.len());
    for mount in mounts {
        let target = image.resolve(&mount.target)?;
        let rel = PathBuf::from(target.trim_start_matches('/'));
        if rel.as_os_str().is_empty() {
            return Err(Error::Sandbox {
                what: format!("mounting a RUN --mount at `{}`", mount.target),
                source: std::io::Error::other(
                    "chroot isolation cannot replace the whole root filesystem",
                ),
            });
        }
        resolved.push((rel, mount));
    }
    resolved.sort_by_key(|(rel, _)| rel.components().count());
    let mut placed = Vec::with_capacity(resolved.len());
    for (n, (rel, mount)) in resolved.into_iter().enumerate() {
        let path = root.join(&rel);
        let mut created = Vec::new();
        let mut kept = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        while !root.join(&kept).is_dir() {
            created.push(kept.clone());
            kept = kept.parent().map(Path::to_path_buf).unwrap_or_default();
        }
        created.reverse();
        let times = DirTimes::of(&root.join(&kept))?;
        let stash_path = if fs::symlink_metadata(&path).is_ok() {
            let aside = stash.join(n.to_string());
            fs::rename(&path, &aside).map_err(io(&path))?;
            Some(aside)
        } else {
            None
        };
        for dir in &created {
            let host = root.join(dir);
            fs::create_dir(&host).map_err(io(&host))?;
        }
        let sync_to = fill(&path, mount)?;
        times.restore(&root.join(&kept))?;
        ignore.add(&rel);
        placed.push(Placed {
            rel,
            stash: stash_path,
            created,
            sync_to,
            kept,
        });
    }
    Ok(placed)
}

/// Puts what a mount shows at `target`; returns the cache directory to copy back to, if any.
fn fill(target: &Path, mount: &ExtraMount) -> Result<Option<PathBuf>> {
    match &mount.source {
        MountFrom::Host(host) => {
            let meta = fs::metadata(host).map_err(io(host))?;
            if meta.is_dir() {
                fs::create_dir(target).map_err(io(target))?;
                entry::copy_tree(host, target)?;
                Ok((!mount.readonly).then(|| host.clone()))
            } else {
                copy_leaf(host, &meta, target, &mut Links::new())?;
                Ok(None)
            }
        }
        MountFrom::Tmpfs { .. } => {
            fs::create_dir(target).map_err(io(target))?;
            fs::set_permissions(target, fs::Permissions::from_mode(0o1777)).map_err(io(target))?;
            Ok(None)
        }
        MountFrom::Layers { lowers, path } => {
            if lowers.is_empty() {
                fs::create_dir(target).map_err(io(target))?;
                return Ok(None);
            }
            let stack = LayerStack::new(lowers.clone());
            let inside = stack.resolve(path)?;
            let found = stack.lookup(&inside)?.ok_or_else(|| Error::BadSource {
                source_path: path.clone(),
                reason: "not found in the mount's source".into(),
            })?;
            if found.meta.is_dir() {
                fs::create_dir(target).map_err(io(target))?;
                copy_merged(&stack, &inside, target, &mut Links::new(), 0)?;
                entry::set_meta(target, &found.meta, &content_xattrs(&found.host_path)?)?;
            } else {
                copy_leaf(&found.host_path, &found.meta, target, &mut Links::new())?;
            }
            Ok(None)
        }
    }
}

/// Copies the merged view of `dir` in `stack` into the existing directory `target`.
fn copy_merged(
    stack: &LayerStack,
    dir: &str,
    target: &Path,
    links: &mut Links,
    depth: usize,
) -> Result<()> {
    if depth >= strata_oci::MAX_DEPTH {
        return Err(strata_oci::Error::TooDeep {
            path: dir.to_string(),
            max: strata_oci::MAX_DEPTH,
        }
        .into());
    }
    for (name, found) in stack.read_dir(dir)? {
        let to = target.join(&name);
        if found.meta.is_dir() {
            fs::create_dir(&to).map_err(io(&to))?;
            let inner = format!("{}/{name}", dir.trim_end_matches('/'));
            copy_merged(stack, &inner, &to, links, depth + 1)?;
            entry::set_meta(&to, &found.meta, &content_xattrs(&found.host_path)?)?;
        } else {
            copy_leaf(&found.host_path, &found.meta, &to, links)?;
        }
    }
    Ok(())
}

/// Undoes [`place_mounts`] (children before parents): a cache mount's contents go back to the
/// cache, the image's entries come back, made parents go if still empty, and the directories
/// around keep the mtimes the command left them.
pub fn remove_mounts(root: &Path, placed: Vec<Placed>) -> Result<()> {
    for mount in placed.into_iter().rev() {
        let mut times = Vec::new();
        for dir in std::iter::once(&mount.kept).chain(&mount.created) {
            let host = root.join(dir);
            times.push((DirTimes::of(&host)?, host));
        }
        let path = root.join(&mount.rel);
        if let Some(cache) = &mount.sync_to {
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                for item in fs::read_dir(cache).map_err(io(cache))? {
                    let item = item.map_err(io(cache))?;
                    entry::remove(&item.path())?;
                }
                entry::move_children(&path, cache)?;
            }
        }
        entry::remove(&path)?;
        if let Some(aside) = &mount.stash {
            fs::rename(aside, &path).map_err(io(&path))?;
        }
        for dir in mount.created.iter().rev() {
            // Not empty: the command put something there, which is the step's.
            let _ = fs::remove_dir(root.join(dir));
        }
        for (times, dir) in times.iter().rev() {
            if dir.is_dir() {
                times.restore(dir)?;
            }
        }
    }
    Ok(())
}
