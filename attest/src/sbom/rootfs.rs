//! Reading files of an untrusted image's root filesystem from the host, as the image would see
//! them, without ever leaving it.
//!
//! A path is resolved one component at a time with `lstat`: a symlink is followed the way the
//! kernel would inside a chroot (an absolute target starts again at the image root, `..` stops
//! at it), so `/var/lib/dpkg/status -> /etc/shadow` reads the image's `/etc/shadow`, never the
//! host's. Every component of the final host path has been seen not to be a symlink, and the
//! file is opened with `O_NOFOLLOW | O_NONBLOCK` (a FIFO planted in the image cannot block the
//! scan) and read only up to a size cap. The scanned tree is an immutable snapshot, so no
//! component changes between the walk and the open.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution may follow (Linux's own limit is 40).
const MAX_SYMLINKS: usize = 40;

/// What reading one file of the image gave.
#[derive(Debug)]
pub(crate) enum Contents {
    /// The file's bytes.
    Data(Vec<u8>),
    /// No such file (or a path that loops, or is not a regular file): nothing to report.
    Missing,
    /// The file is larger than the cap: skipped, and the scan says so.
    TooLarge,
}

/// An image's root filesystem on the host.
#[derive(Debug, Clone)]
pub(crate) struct RootFs {
    root: PathBuf,
}

impl RootFs {
    /// The tree at `root` (already checked to be a directory).
    pub(crate) fn new(root: &Path) -> Self {
        RootFs {
            root: root.to_path_buf(),
        }
    }

    /// The host path of the image's `path`, with every symlink resolved inside the image; None
    /// when a component is missing, the path loops or a non-directory sits in the middle.
    pub(crate) fn resolve(&self, path: &Path) -> Option<PathBuf> {
        let mut resolved: Vec<OsString> = Vec::new();
        let mut pending: VecDeque<OsString> = components(path);
        let mut followed = 0;
        while let Some(component) = pending.pop_front() {
            if component == ".." {
                resolved.pop();
                continue;
            }
            let mut candidate = self.host_path(&resolved);
            candidate.push(&component);
            let meta = std::fs::symlink_metadata(&candidate).ok()?;
            if meta.file_type().is_symlink() {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return None;
                }
                let target = std::fs::read_link(&candidate).ok()?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for part in components(&target).into_iter().rev() {
                    pending.push_front(part);
                }
                continue;
            }
            if !pending.is_empty() && !meta.is_dir() {
                return None;
            }
            resolved.push(component);
        }
        Some(self.host_path(&resolved))
    }

    /// Reads the image's regular file `path`, at most `cap` bytes.
    pub(crate) fn read(&self, path: &Path, cap: u64) -> Contents {
        let Some(host) = self.resolve(path) else {
            return Contents::Missing;
        };
        let Ok(file) = open_no_follow(&host) else {
            return Contents::Missing;
        };
        match file.metadata() {
            Ok(meta) if meta.is_file() => {}
            _ => return Contents::Missing,
        }
        let mut data = Vec::new();
        if file.take(cap + 1).read_to_end(&mut data).is_err() {
            return Contents::Missing;
        }
        if data.len() as u64 > cap {
            return Contents::TooLarge;
        }
        Contents::Data(data)
    }

    /// The names in the image's directory `path`, sorted; empty when it is not one.
    pub(crate) fn list(&self, path: &Path) -> Vec<OsString> {
        let Some(host) = self.resolve(path) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(host) else {
            return Vec::new();
        };
        let mut names: Vec<OsString> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        names
    }

    /// The image path (`/usr/lib/…`) of a host path under the root.
    pub(crate) fn image_path(&self, host: &Path) -> Option<PathBuf> {
        host.strip_prefix(&self.root)
            .ok()
            .map(|rel| Path::new("/").join(rel))
    }

    /// The host directory the tree lives in.
    pub(crate) fn host_root(&self) -> &Path {
        &self.root
    }

    fn host_path(&self, resolved: &[OsString]) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(resolved);
        path
    }
}

/// The normal components of a path, `..` kept (resolution handles it), `.` and `/` dropped.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn open_no_follow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn data(read: Contents) -> Vec<u8> {
        match read {
            Contents::Data(data) => data,
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_root_never_outside() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("var/lib")).unwrap();
        std::fs::write(root.join("etc/secret"), "image file").unwrap();
        // An absolute target naming the host path, a relative one climbing past the root.
        let host_target = outside.path().join("secret");
        symlink(&host_target, root.join("var/lib/absolute")).unwrap();
        symlink(
            "../../../../../../../../etc/secret",
            root.join("var/lib/climb"),
        )
        .unwrap();
        symlink("/etc", root.join("var/lib/etcdir")).unwrap();
        let fs = RootFs::new(root);
        assert_eq!(
            data(fs.read(Path::new("/var/lib/climb"), 100)),
            b"image file"
        );
        assert_eq!(
            data(fs.read(Path::new("/var/lib/etcdir/secret"), 100)),
            b"image file"
        );
        // The host path does not exist inside the image: nothing is read.
        assert!(matches!(
            fs.read(Path::new("/var/lib/absolute"), 100),
            Contents::Missing
        ));
        assert!(matches!(
            fs.read(
                &Path::new("/").join(host_target.strip_prefix("/").unwrap()),
                100
            ),
            Contents::Missing
        ));
    }

    #[test]
    fn loops_fifos_directories_and_big_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink("/b", root.join("a")).unwrap();
        symlink("/a", root.join("b")).unwrap();
        let fifo = std::ffi::CString::new(root.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        std::fs::create_dir(root.join("dir")).unwrap();
        std::fs::write(root.join("big"), vec![b'x'; 101]).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        let fs = RootFs::new(root);
        assert!(matches!(fs.read(Path::new("/a"), 100), Contents::Missing));
        assert!(matches!(
            fs.read(Path::new("/fifo"), 100),
            Contents::Missing
        ));
        assert!(matches!(fs.read(Path::new("/dir"), 100), Contents::Missing));
        assert!(matches!(
            fs.read(Path::new("/file/below"), 100),
            Contents::Missing
        ));
        assert!(matches!(
            fs.read(Path::new("/big"), 100),
            Contents::TooLarge
        ));
        assert_eq!(data(fs.read(Path::new("/big"), 101)).len(), 101);
    }
}
