//! Layer tar → snapshot dir: the inverse of `write`, for layers that come from elsewhere.
//!
//! OCI whiteouts become overlay whiteouts (`.wh.x` → a 0/0 character device `x`,
//! `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory, `user.overlay.opaque` in a
//! user namespace or where `trusted.*` is refused) because snapshots are used as overlay
//! lower dirs. Hostile input is refused: absolute paths, `..`, entries placed under a
//! symlink, hard links to anything outside what was already extracted, whiteouts of `.` or
//! `..`; overlay's own xattrs in the tar are dropped. Symlinks themselves may point anywhere
//! (`/etc/localtime -> /usr/share/zoneinfo/UTC` is normal): they are resolved inside the
//! container at run time, and extraction never writes through one — an entry under a symlink
//! is refused, and an entry replacing a symlink removes the link first.

use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{makedev, AtFlags, Dev, FileType, Timespec, Timestamps, CWD};

use strata_cache::{Digest, Hasher};

use super::{placeholder, xattr, MAX_DEPTH, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::{Error, Result};
use crate::rootfs::{is_overlay_xattr, make_whiteout, mark_opaque};

/// What an extraction found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractReport {
    /// sha256 of the uncompressed tar stream that was read.
    pub diff_id: Digest,
    /// Its length.
    pub size: u64,
}

struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::BadLayer {
        reason: what.into(),
    }
}

/// A read of the layer that failed, the reader's error kept as the cause.
fn read_failed(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::LayerRead {
        what: what.into(),
        source,
    }
}

/// Applies the (uncompressed) layer tar read from `input` into `dest`, an empty directory.
pub fn extract_layer(input: impl Read, dest: &Path) -> Result<ExtractReport> {
    let mut reader = HashingReader {
        inner: input,
        hasher: Hasher::new(),
    };
    let mut dirs: Vec<(PathBuf, fs::Metadata, u32, u64, u64, i64)> = Vec::new();
    // One buffer for every file: `io::copy`'s 8 KiB would mean a write call per 8 KiB.
    let mut buffer = vec![0u8; 256 << 10];
    {
        let mut archive = tar::Archive::new(&mut reader);
        let entries = archive
            .entries()
            .map_err(read_failed("reading the layer"))?;
        for entry in entries {
            let mut entry = entry.map_err(read_failed("reading the layer"))?;
            let raw_path = entry
                .path()
                .map_err(read_failed("an entry's path"))?
                .into_owned();
            let rel = safe_relative(&raw_path)?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            if rel.components().count() > MAX_DEPTH {
                return Err(Error::TooDeep {
                    path: rel.display().to_string(),
                    max: MAX_DEPTH,
                });
            }
            let target = dest.join(&rel);
            check_parents(dest, &rel)?;
            let name = rel.file_name().map(|n| n.as_bytes()).unwrap_or(b"");
            let parent = target.parent().unwrap_or(dest).to_path_buf();
            // Parents the tar does not list are implied (as containerd and docker do).
            fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
            if name == OPAQUE_MARKER.as_bytes() {
                mark_opaque(&parent).map_err(|e| io(&parent, e))?;
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
                // `.wh..` and `.wh...` would name the parent or grandparent: deleting "that"
                // here would delete real directories, possibly outside `dest`.
                if hidden.is_empty() || hidden == b"." || hidden == b".." {
                    return Err(bad(format!("whiteout `{}` names no file", rel.display())));
                }
                let victim = parent.join(std::ffi::OsStr::from_bytes(hidden));
                remove_existing(&victim)?;
                make_whiteout(&victim).map_err(|e| io(&victim, e))?;
                // The marker keeps its mtime, so the layer regenerated from the snapshot is
                // the tar that was read (a loaded layer then needs no stored copy).
                let mtime = entry.header().mtime().unwrap_or(0) as i64;
                apply_meta(&victim, 0, 0, 0, mtime, false)?;
                continue;
            }
            let header = entry.header().clone();
            let raw = header.as_bytes();
            let field = |value: io::Result<u64>, range: std::ops::Range<usize>, what: &str| {
                numeric(value, &raw[range], what, &rel)
            };
            let mode = field(header.mode().map(u64::from), 100..108, "mode")? as u32 & 0o7777;
            let uid = field(header.uid(), 108..116, "uid")?;
            let gid = field(header.gid(), 116..124, "gid")?;
            let mtime = field(header.mtime(), 136..148, "mtime")? as i64;
            let kind = header.entry_type();
            if !kind.is_dir() {
                remove_existing(&target)?;
            }
            match kind {
                tar::EntryType::Directory => {
                    match fs::symlink_metadata(&target) {
                        Ok(meta) if meta.is_dir() => {}
                        Ok(_) => {
                            remove_existing(&target)?;
                            fs::create_dir(&target).map_err(|e| io(&target, e))?;
                        }
                        Err(_) => fs::create_dir_all(&target).map_err(|e| io(&target, e))?,
                    }
                    let meta = fs::symlink_metadata(&target).map_err(|e| io(&target, e))?;
                    dirs.push((target.clone(), meta, mode, uid, gid, mtime));
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut file = fs::File::create(&target).map_err(|e| io(&target, e))?;
                    copy_with(&mut entry, &mut file, &mut buffer).map_err(|e| io(&target, e))?;
                }
                tar::EntryType::Symlink => {
                    let link = entry
                        .link_name()
                        .map_err(read_failed(format!("symlink `{}`", rel.display())))?
                        .ok_or_else(|| bad(format!("symlink `{}` has no target", rel.display())))?;
                    std::os::unix::fs::symlink(&link, &target).map_err(|e| io(&target, e))?;
                }
                tar::EntryType::Link => {
                    let link = entry
                        .link_name()
                        .map_err(read_failed(format!("hard link `{}`", rel.display())))?
                        .ok_or_else(|| {
                            bad(format!("hard link `{}` has no target", rel.display()))
                        })?;
                    let link_rel = safe_relative(&link).map_err(|_| {
                        bad(format!(
                            "hard link `{}` points outside the layer: `{}`",
                            rel.display(),
                            link.display()
                        ))
                    })?;
                    check_parents(dest, &link_rel)?;
                    let source = dest.join(&link_rel);
                    let source_meta = fs::symlink_metadata(&source).map_err(|_| {
                        bad(format!(
                            "hard link `{}` points at `{}`, which the layer does not have",
                            rel.display(),
                            link.display()
                        ))
                    })?;
                    if source_meta.is_dir() {
                        return Err(bad(format!(
                            "hard link `{}` points at a directory",
                            rel.display()
                        )));
                    }
                    fs::hard_link(&source, &target).map_err(|e| io(&target, e))?;
                    continue;
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    let major = header.device_major().ok().flatten().unwrap_or(0);
                    let minor = header.device_minor().ok().flatten().unwrap_or(0);
                    let file_type = match kind {
                        tar::EntryType::Char => FileType::CharacterDevice,
                        tar::EntryType::Block => FileType::BlockDevice,
                        _ => FileType::Fifo,
                    };
                    mknod(&target, file_type, makedev(major, minor))?;
                }
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
                other => {
                    return Err(bad(format!(
                        "entry `{}` has an unsupported type {other:?}",
                        rel.display()
                    )))
                }
            }
            let pax = || read_failed(format!("entry `{}`: pax extensions", rel.display()));
            if let Some(extensions) = entry.pax_extensions().map_err(pax())? {
                for extension in extensions {
                    let extension = extension.map_err(pax())?;
                    let name = extension
                        .key()
                        .ok()
                        .and_then(|k| k.strip_prefix("SCHILY.xattr."));
                    // overlayfs's own xattrs (opaque, redirect, metacopy…) would change what
                    // the snapshot means as a lower dir: only `.wh.` entries may say that;
                    // nor may a tar pass a file off as a device placeholder.
                    if let Some(name) =
                        name.filter(|n| !is_overlay_xattr(n) && *n != placeholder::DEVICE_XATTR)
                    {
                        xattr::set(&target, name, extension.value_bytes())
                            .map_err(|e| io(&target, e))?;
                    }
                }
            }
            if !kind.is_dir() {
                apply_meta(&target, mode, uid, gid, mtime, kind.is_symlink())?;
            }
        }
    }
    // Directory metadata last: creating children would change their mtimes.
    for (dir, _, mode, uid, gid, mtime) in dirs.iter().rev() {
        apply_meta(dir, *mode, *uid, *gid, *mtime, false)?;
    }
    io::copy(&mut reader, &mut io::sink()).map_err(read_failed("reading the layer"))?;
    let size = reader.hasher.len();
    Ok(ExtractReport {
        diff_id: reader.hasher.finish(),
        size,
    })
}

/// Copies `from` to the end into `to` through `buffer`.
fn copy_with(from: &mut impl Read, to: &mut impl io::Write, buffer: &mut [u8]) -> io::Result<()> {
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
    }
}

/// A numeric header field. Go's archive/tar (docker, BuildKit) reads an empty one (all NULs or
/// spaces) as 0, so tars other tools accept are accepted here too; garbage is an error.
fn numeric(value: io::Result<u64>, raw: &[u8], what: &str, rel: &Path) -> Result<u64> {
    match value {
        Ok(value) => Ok(value),
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        Err(e) => Err(bad(format!("entry `{}`: bad {what}: {e}", rel.display()))),
    }
}

/// A tar path as a relative path with no `..`; absolute paths are refused.
fn safe_relative(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(bad(format!(
                    "entry `{}` has an absolute path",
                    path.display()
                )))
            }
            Component::ParentDir => {
                return Err(bad(format!(
                    "entry `{}` climbs out with `..`",
                    path.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Refuses an entry whose parent directories include a symlink: writing through it could land
/// anywhere on the host.
fn check_parents(dest: &Path, rel: &Path) -> Result<()> {
    let mut current = dest.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        current.push(part);
        if let Ok(meta) = fs::symlink_metadata(&current) {
            if meta.file_type().is_symlink() {
                return Err(bad(format!(
                    "entry `{}` is placed under the symlink `{}`",
                    rel.display(),
                    current.strip_prefix(dest).unwrap_or(&current).display()
                )));
            }
        }
    }
    Ok(())
}

fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).map_err(|e| io(path, e)),
        Ok(_) => fs::remove_file(path).map_err(|e| io(path, e)),
        Err(_) => Ok(()),
    }
}

/// Makes the node with mode `0600` (the final mode is set after the chown); a device that a
/// user namespace cannot make becomes a placeholder (see `placeholder.rs`).
fn mknod(path: &Path, file_type: FileType, dev: Dev) -> Result<()> {
    placeholder::make_node(path, file_type, dev).map_err(|e| io(path, e))
}

/// Makes a device node or FIFO with its owner, mode and mtime: for layer extraction and for
/// ADD's archives (the mode is set after the chown, which clears set-id bits, because mknod's
/// went through the umask).
pub fn make_special_node(
    path: &Path,
    file_type: FileType,
    dev: Dev,
    mode: u32,
    (uid, gid): (u32, u32),
    mtime: i64,
) -> Result<()> {
    mknod(path, file_type, dev)?;
    apply_meta(path, mode, uid.into(), gid.into(), mtime, false)
}

fn apply_meta(path: &Path, mode: u32, uid: u64, gid: u64, mtime: i64, symlink: bool) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid as u32), Some(gid as u32)).map_err(|e| io(path, e))?;
    if !symlink {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io(path, e))?;
    }
    let time = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io(path, e.into()))
}

fn io(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
