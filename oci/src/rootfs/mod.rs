//! A read-only view of an image's filesystem as overlayfs would show it, read straight from the
//! snapshot dirs without mounting anything.
//!
//! COPY needs it to find the metadata of destination parents and to follow symlinks in the
//! destination path; `--chown` and `USER` need the image's `/etc/passwd`. Snapshots carry
//! overlay's own markers (a 0/0 character device is a whiteout, `trusted.overlay.opaque=y`
//! hides everything below a directory), so the view applies overlay's rules.
//!
//! Inside a user namespace (rootless mode) overlayfs is mounted with `userxattr` and its
//! markers live under `user.overlay.*`, since only the host's root may write `trusted.*`:
//! [`opaque_xattr`] names the one this process's overlays read and write.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

mod scoped;

pub use scoped::resolve_scoped;

use crate::error::{Error, Result};

/// The xattr overlayfs sets on a directory that hides the lower layers' contents, as
/// mounted by the host's root.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The same marker as overlayfs mounted inside a user namespace (`userxattr`) keeps it.
pub const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";

/// The opaque marker this process's overlays use: [`USER_OPAQUE_XATTR`] inside a user
/// namespace, else [`OPAQUE_XATTR`].
pub(crate) fn opaque_xattr() -> &'static str {
    if in_user_namespace() {
        USER_OPAQUE_XATTR
    } else {
        OPAQUE_XATTR
    }
}

/// True for overlayfs's own xattrs (opaque, redirect, origin…) under either prefix: they say
/// how overlay sees a directory, never belong in a layer, and a tar must not forge them.
pub(crate) fn is_overlay_xattr(name: &str) -> bool {
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}

/// True when this process runs in a user namespace other than the host's (rootless mode, or
/// a container of a rootless engine): its overlays need `userxattr`, it cannot make device
/// nodes, and `trusted.*` xattrs are out of reach. Decided on first use (strata enters its
/// user namespace before anything asks) from `/proc/self/uid_map`, which in the initial
/// namespace maps every id to itself.
pub fn in_user_namespace() -> bool {
    static IN_USERNS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_USERNS.get_or_init(in_user_namespace_now)
}

/// [`in_user_namespace`] asked again now, not remembered: for the code that moves the process
/// (did a failed attempt leave it in a namespace?).
pub fn in_user_namespace_now() -> bool {
    fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| !is_identity_map(&map))
}

/// Whether a `uid_map` is the initial namespace's: all 2³² − 1 ids mapped to themselves.
fn is_identity_map(map: &str) -> bool {
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|line| line.split_whitespace().collect())
        .filter(|fields: &Vec<&str>| !fields.is_empty())
        .collect();
    matches!(lines.as_slice(), [fields] if fields.as_slice() == ["0", "0", "4294967295"])
}

/// An entry found in the view.
#[derive(Debug)]
pub struct Found {
    /// Where the entry is on the host (in the topmost layer that has it).
    pub host_path: PathBuf,
    /// Its metadata (a final symlink not followed).
    pub meta: fs::Metadata,
}

/// Snapshot dirs, topmost first, seen as one filesystem.
#[derive(Debug, Clone, Default)]
pub struct LayerStack {
    layers: Vec<PathBuf>,
}

impl LayerStack {
    /// A view over `layers`, topmost first (an empty stack is `FROM scratch`).
    pub fn new(layers_top_first: Vec<PathBuf>) -> Self {
        LayerStack {
            layers: layers_top_first,
        }
    }

    /// The layers, topmost first.
    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    /// Looks up a path (absolute in the image; symlinks are not followed).
    pub fn lookup(&self, path: &str) -> Result<Option<Found>> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            // The root itself: the topmost layer's root dir, if any.
            return match self.layers.first() {
                Some(top) => Ok(Some(Found {
                    host_path: top.clone(),
                    meta: metadata(top)?,
                })),
                None => Ok(None),
            };
        }
        for layer in &self.layers {
            match probe(layer, &parts)? {
                Probe::Found(found) => return Ok(Some(found)),
                Probe::Hidden => return Ok(None),
                Probe::Absent => {}
            }
        }
        Ok(None)
    }

    /// Resolves every symlink in `path` inside the image, as the kernel would inside the
    /// container (never leaving the image's root). Returns an absolute image path.
    pub fn resolve(&self, path: &str) -> Result<String> {
        let resolved = resolve_scoped(path, |prefix| match self.lookup(prefix)? {
            Some(found) if found.meta.file_type().is_symlink() => fs::read_link(&found.host_path)
                .map(|t| Some(t.to_string_lossy().into_owned()))
                .map_err(|source| Error::Io {
                    path: found.host_path,
                    source,
                }),
            _ => Ok(None),
        })?;
        Ok(format!("/{resolved}"))
    }

    /// Lists a directory of the image (a path already resolved), merging the layers: names in
    /// byte order, whiteouts and opaque directories applied.
    pub fn read_dir(&self, path: &str) -> Result<Vec<(String, Found)>> {
        let mut names = std::collections::BTreeSet::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for layer in &self.layers {
            let dir = parts.iter().fold(layer.clone(), |p, part| p.join(part));
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.is_dir() => {
                    for entry in fs::read_dir(&dir).map_err(|source| Error::Io {
                        path: dir.clone(),
                        source,
                    })? {
                        let entry = entry.map_err(|source| Error::Io {
                            path: dir.clone(),
                            source,
                        })?;
                        if let Some(name) = entry.file_name().to_str() {
                            names.insert(name.to_string());
                        }
                    }
                    if is_opaque(&dir) {
                        break;
                    }
                }
                Ok(_) => break,
                Err(_) => {}
            }
        }
        let mut out = Vec::new();
        for name in names {
            let child = format!("{}/{name}", path.trim_end_matches('/'));
            if let Some(found) = self.lookup(&child)? {
                out.push((name, found));
            }
        }
        Ok(out)
    }

    /// Reads a regular file of the image (symlinks followed), `None` if it is not there.
    pub fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        let resolved = self.resolve(path).ok()?;
        let found = self.lookup(&resolved).ok()??;
        if !found.meta.is_file() {
            return None;
        }
        fs::read(found.host_path).ok()
    }
}

enum Probe {
    Found(Found),
    /// Deleted or shadowed in this layer: lower layers must not be consulted.
    Hidden,
    /// This layer says nothing about the path.
    Absent,
}

fn probe(layer: &Path, parts: &[&str]) -> Result<Probe> {
    let mut current = layer.to_path_buf();
    for (index, part) in parts.iter().enumerate() {
        current.push(part);
        let meta = match fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                // Missing here; an opaque ancestor in this layer still hides lower layers.
                let opaque_ancestor = (0..index).any(|depth| {
                    let ancestor: PathBuf = parts[..=depth].iter().collect();
                    is_opaque(&layer.join(ancestor))
                });
                return Ok(if opaque_ancestor {
                    Probe::Hidden
                } else {
                    Probe::Absent
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    path: current,
                    source,
                })
            }
        };
        if is_whiteout_at(&current, &meta) {
            return Ok(Probe::Hidden);
        }
        let last = index + 1 == parts.len();
        if last {
            return Ok(Probe::Found(Found {
                host_path: current,
                meta,
            }));
        }
        if !meta.is_dir() {
            // A file (or symlink, which `resolve` handles) over a lower directory hides it.
            return Ok(Probe::Hidden);
        }
    }
    Ok(Probe::Absent)
}

/// Overlay's whiteout: a character device with device number 0/0.
pub fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// The xattr of overlay's other whiteout form (an empty regular file carrying it, as overlay
/// reads in a user namespace), which strata writes where a 0/0 device cannot be made: an
/// unprivileged container's device rules refuse that mknod.
pub const USER_WHITEOUT_XATTR: &str = "user.overlay.whiteout";

/// Whether the entry at `path` (lstat'ed as `meta`) is a whiteout, in either form.
pub fn is_whiteout_at(path: &Path, meta: &fs::Metadata) -> bool {
    is_whiteout(meta)
        || (meta.is_file()
            && meta.len() == 0
            && crate::layer::xattr::get(path, USER_WHITEOUT_XATTR).is_ok_and(|v| v.is_some()))
}

/// Makes a whiteout at `path`: a 0/0 character device, or where that mknod is refused (an
/// unprivileged container) an empty file marked with [`USER_WHITEOUT_XATTR`].
pub fn make_whiteout(path: &Path) -> std::io::Result<()> {
    let (kind, mode) = (
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::RUSR,
    );
    match rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        kind,
        mode | rustix::fs::Mode::WUSR,
        0,
    ) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    crate::layer::xattr::set(path, USER_WHITEOUT_XATTR, b"y")
}

/// Whether a directory carries overlay's opaque marker, under either prefix.
pub fn is_opaque(dir: &Path) -> bool {
    has_opaque_xattr(dir, OPAQUE_XATTR) || has_opaque_xattr(dir, USER_OPAQUE_XATTR)
}

/// Marks `dir` opaque with the marker this process's overlays read ([`opaque_xattr`]); where
/// `trusted.*` needs a capability this process lacks (chroot isolation in a pod), with
/// `user.overlay.opaque`, which the layer writer reads too.
pub fn mark_opaque(dir: &Path) -> std::io::Result<()> {
    match crate::layer::xattr::set(dir, opaque_xattr(), b"y") {
        Err(e)
            if opaque_xattr() == OPAQUE_XATTR
                && matches!(
                    e.raw_os_error(),
                    Some(code) if code == rustix::io::Errno::PERM.raw_os_error()
                        || code == rustix::io::Errno::NOTSUP.raw_os_error()
                ) =>
        {
            crate::layer::xattr::set(dir, USER_OPAQUE_XATTR, b"y")
        }
        other => other,
    }
}

fn has_opaque_xattr(dir: &Path, key: &str) -> bool {
    let mut value = [0u8; 4];
    let len = rustix::fs::lgetxattr(dir, key, &mut value[..]);
    matches!(len, Ok(1)) && value[0] == b'y'
}

fn metadata(path: &Path) -> Result<fs::Metadata> {
    fs::symlink_metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{FileType, Mode, XattrFlags, CWD};
    use std::os::unix::fs::symlink;

    fn mknod_whiteout(path: &Path) -> bool {
        let (kind, mode) = (FileType::CharacterDevice, Mode::empty());
        rustix::fs::mknodat(CWD, path, kind, mode, 0).is_ok()
    }

    fn set_opaque(dir: &Path) -> bool {
        rustix::fs::lsetxattr(dir, opaque_xattr(), b"y", XattrFlags::empty()).is_ok()
    }

    #[test]
    fn only_the_full_identity_map_is_the_initial_user_namespace() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1001          1\n"));
        assert!(!is_identity_map(
            "         0       1001          1\n         1     100000      65536\n"
        ));
        assert!(!is_identity_map("         0          0      65536\n"));
        assert!(!is_identity_map(""));
        assert!(is_overlay_xattr("trusted.overlay.opaque"));
        assert!(is_overlay_xattr("user.overlay.redirect"));
        assert!(!is_overlay_xattr("user.mime_type"));
        assert!(!is_overlay_xattr("security.capability"));
    }

    #[test]
    fn upper_layers_win_and_symlinks_resolve_across_layers() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        fs::create_dir_all(lower.path().join("real/etc")).unwrap();
        fs::write(lower.path().join("real/etc/passwd"), "lower").unwrap();
        fs::write(lower.path().join("real/etc/group"), "lower group").unwrap();
        fs::create_dir_all(upper.path().join("real/etc")).unwrap();
        fs::write(upper.path().join("real/etc/passwd"), "upper").unwrap();
        symlink("/real/etc", upper.path().join("etc")).unwrap();
        let view = LayerStack::new(vec![upper.path().into(), lower.path().into()]);
        assert_eq!(view.read_file("/etc/passwd").unwrap(), b"upper");
        assert_eq!(view.read_file("/etc/group").unwrap(), b"lower group");
        assert!(view.read_file("/etc/shadow").is_none());
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_entries() {
        if !crate::running_as_root() {
            crate::skip_test("whiteouts need root (mknod, trusted xattrs)");
            return;
        }
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        fs::create_dir_all(lower.path().join("gone")).unwrap();
        fs::create_dir_all(lower.path().join("opaque")).unwrap();
        fs::write(lower.path().join("opaque/old"), "").unwrap();
        fs::write(lower.path().join("file"), "").unwrap();
        assert!(mknod_whiteout(&upper.path().join("file")));
        fs::create_dir_all(upper.path().join("opaque")).unwrap();
        fs::write(upper.path().join("opaque/new"), "").unwrap();
        if !set_opaque(&upper.path().join("opaque")) {
            crate::skip_test("trusted xattrs not supported here");
            return;
        }
        let view = LayerStack::new(vec![upper.path().into(), lower.path().into()]);
        assert!(view.lookup("/file").unwrap().is_none());
        assert!(view.lookup("/gone").unwrap().is_some());
        assert!(view.lookup("/opaque/old").unwrap().is_none());
        assert!(view.lookup("/opaque/new").unwrap().is_some());
    }
}
