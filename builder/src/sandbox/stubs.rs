//! Mount points the sandbox needs but the image may lack, or have in a form a mount cannot use.
//!
//! Mounting onto a path that does not exist means creating it first, and anything created in
//! the merged view lands in the upper dir — in the layer — and even creating a file in an
//! existing `/etc` copies `/etc` itself up. So, as docker's "init layer" does, missing mount
//! points are made in an extra read-only lower dir on top of the image's layers, whose parent
//! directories mirror the image's metadata (overlay copies a directory up from the topmost
//! lower that has it). The upper dir then holds only what the command changed.
//!
//! The init layer also shadows mount points the image has in an unusable form: `/proc` as a
//! file, or `/etc/resolv.conf` as a symlink (common: `../run/systemd/resolve/stub-resolv.conf`).
//! The bind mount is made before `pivot_root`, so following such a symlink would resolve on the
//! host, or fail on a dangling target. The shadowing file is an empty regular file under the
//! mount; what the command sees there is strata's file, as in docker. If `/etc` itself is a
//! symlink, it is resolved inside the image and the files go where it points.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use strata_oci::LayerStack;

/// Directories the sandbox mounts on.
const MOUNT_DIRS: [&str; 3] = ["proc", "dev", "sys"];
/// Files the sandbox bind-mounts, in `/etc`.
pub const ETC_FILES: [&str; 3] = ["resolv.conf", "hosts", "hostname"];

/// Where the sandbox mounts things, and the layer that makes them exist.
#[derive(Debug, Clone)]
pub struct MountPoints {
    /// The init layer (topmost lower dir), when the image lacks a usable mount point.
    pub init: Option<PathBuf>,
    /// The image's `/etc` with symlinks resolved (`etc`, relative to the root).
    pub etc: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A mount point an extra mount needs: a path in the image (symlinks already resolved) and
/// whether a directory or a file is mounted there.
#[derive(Debug, Clone)]
pub struct Stub {
    /// Absolute path in the image.
    pub path: String,
    /// A directory (else a file).
    pub dir: bool,
}

/// Makes the init layer in `dir` if the image needs one, and says where `/etc` is. `extra`
/// are the mount points of `RUN --mount`s and heredoc scripts: made here like the sandbox's
/// own, so that neither they nor their parents appear in the layer (BuildKit removes such
/// mount stubs after the run; never creating them in the upper dir comes to the same).
pub fn init_layer(image: &LayerStack, dir: &Path, extra: &[Stub]) -> Result<MountPoints> {
    let mut made = false;
    for name in MOUNT_DIRS {
        let usable = image.lookup(name)?.is_some_and(|f| f.meta.is_dir());
        if !usable {
            let path = dir.join(name);
            fs::create_dir_all(&path).map_err(io(&path))?;
            made = true;
        }
    }
    let etc = match image.resolve("/etc") {
        Ok(resolved) if resolved != "/" => resolved.trim_start_matches('/').to_string(),
        // A loop or a link to `/`: shadow it with a real directory.
        _ => "etc".to_string(),
    };
    let mut parents = Vec::new();
    for name in ETC_FILES {
        let image_path = format!("{etc}/{name}");
        let usable = image.lookup(&image_path)?.is_some_and(|f| f.meta.is_file());
        if usable {
            continue;
        }
        if parents.is_empty() {
            parents = make_parents(dir, &etc)?;
        }
        let path = dir.join(&image_path);
        fs::write(&path, b"").map_err(io(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).map_err(io(&path))?;
        made = true;
    }
    for stub in extra {
        let rel = stub.path.trim_start_matches('/');
        if rel.is_empty() || in_sandbox_tmpfs(rel) {
            // The root always exists; `/dev` is the sandbox's own tmpfs, where the child
            // makes mount points without touching the layer.
            continue;
        }
        let usable = image
            .lookup(&stub.path)?
            .is_some_and(|f| f.meta.is_dir() == stub.dir);
        if usable {
            continue;
        }
        let parent = rel.rsplit_once('/').map_or("", |(parent, _)| parent);
        parents.extend(make_parents(dir, parent)?);
        let path = dir.join(rel);
        if stub.dir {
            fs::create_dir_all(&path).map_err(io(&path))?;
        } else {
            fs::write(&path, b"").map_err(io(&path))?;
        }
        made = true;
    }
    // Metadata last: creating the files above changed the directories' mtimes, and a command
    // that edits `/etc/passwd` copies `/etc` up with the init layer's mtime.
    for (host, image_path) in parents {
        mirror_dir(image, &image_path, &host)?;
    }
    Ok(MountPoints {
        init: made.then(|| dir.to_path_buf()),
        etc,
    })
}

/// Paths under the sandbox's own `/dev` tmpfs (relative to the root).
pub fn in_sandbox_tmpfs(rel: &str) -> bool {
    rel == "dev" || rel.starts_with("dev/")
}

/// Creates `rel` and its ancestors in the init layer; returns the directories it created
/// with their image paths, for [`mirror_dir`].
fn make_parents(dir: &Path, rel: &str) -> Result<Vec<(PathBuf, String)>> {
    let mut created = Vec::new();
    let mut host = dir.to_path_buf();
    let mut image_path = String::new();
    fs::create_dir_all(&host).map_err(io(&host))?;
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        host.push(part);
        image_path.push('/');
        image_path.push_str(part);
        if !host.exists() {
            fs::create_dir(&host).map_err(io(&host))?;
            created.push((host.clone(), image_path.clone()));
        }
    }
    Ok(created)
}

/// Gives `host_dir` the mode, owner and mtime the image's `image_path` has (if a directory).
fn mirror_dir(image: &LayerStack, image_path: &str, host_dir: &Path) -> Result<()> {
    let Some(found) = image.lookup(image_path)? else {
        return Ok(());
    };
    if !found.meta.is_dir() {
        return Ok(());
    }
    let meta = found.meta;
    std::os::unix::fs::lchown(host_dir, Some(meta.uid()), Some(meta.gid()))
        .map_err(io(host_dir))?;
    fs::set_permissions(host_dir, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io(host_dir))?;
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::new(meta.mtime().max(0) as u64, meta.mtime_nsec() as u32);
    fs::File::open(host_dir)
        .and_then(|f| f.set_modified(time))
        .map_err(io(host_dir))?;
    Ok(())
}
