//! Reading a directory of the context: each child's name and `lstat` facts, stat'ed relative to
//! the open directory. A no-op rebuild of a big context is mostly this loop, so it reads
//! entries straight from `getdents64` into the caller's values, with no allocation per child
//! beyond what the caller keeps.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, CWD};

use super::meta::EntryMeta;
use super::walk::EntryKind;
use crate::error::{Error, Result};

/// An open directory and its host path (for error messages and the children's paths).
pub struct OpenDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Directories are opened without following a final symlink: a directory swapped for a link
/// after it was stat'ed is an error, never a way out of the context.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Room for a few hundred entries per `getdents64` call; one entry is at most ~280 bytes.
const DIRENT_BUFFER: usize = 32 * 1024;

impl OpenDir {
    /// Opens the directory at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let fd = rustix::fs::openat(CWD, path, DIR_FLAGS, Mode::empty())
            .map_err(|err| io_error(path, err))?;
        Ok(OpenDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens the child directory `name`.
    pub fn open_child(&self, name: &str) -> Result<Self> {
        let path = self.path.join(name);
        let fd = rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty())
            .map_err(|err| io_error(&path, err))?;
        Ok(OpenDir { fd, path })
    }

    /// The directory's host path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `make` with each child's name, facts and kind (sockets are skipped: they cannot be
    /// copied, and BuildKit skips them too) and collects what it returns, in name order. The
    /// names are read first, so the result is sorted before it is made and sized before it
    /// grows.
    pub fn read<T>(
        &self,
        mut make: impl FnMut(&str, EntryMeta, EntryKind) -> Result<Option<T>>,
    ) -> Result<Vec<T>> {
        let names = self.names()?;
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_unstable_by(|&a, &b| names.get(a).cmp(names.get(b)));
        let mut out = Vec::with_capacity(names.len());
        for i in order {
            let name = names.get(i);
            let stat = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|err| io_error(&self.path.join(name), err))?;
            let kind = match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => EntryKind::Dir,
                FileType::RegularFile => EntryKind::File,
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(&self.fd, name, Vec::new())
                        .map_err(|err| io_error(&self.path.join(name), err))?;
                    EntryKind::Symlink {
                        target: target.to_string_lossy().into_owned(),
                    }
                }
                FileType::Fifo | FileType::BlockDevice | FileType::CharacterDevice => {
                    EntryKind::Special
                }
                _ => continue,
            };
            if let Some(value) = make(name, EntryMeta::of_stat(&stat), kind)? {
                out.push(value);
            }
        }
        Ok(out)
    }

    /// The children's names, in directory order, back to back in one buffer.
    fn names(&self) -> Result<Names> {
        let mut buffer: Vec<u8> = Vec::with_capacity(DIRENT_BUFFER);
        let mut entries = RawDir::new(&self.fd, buffer.spare_capacity_mut());
        let mut names = Names::default();
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(|err| io_error(&self.path, err))?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let Ok(name) = std::str::from_utf8(bytes) else {
                return Err(Error::BadSource {
                    source_path: self
                        .path
                        .join(String::from_utf8_lossy(bytes).as_ref())
                        .display()
                        .to_string(),
                    reason: "file name is not valid UTF-8".into(),
                });
            };
            names.push(name);
        }
        Ok(names)
    }
}

/// Names back to back in one string: one allocation per directory, not one per child.
#[derive(Default)]
struct Names {
    text: String,
    ends: Vec<usize>,
}

impl Names {
    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

fn io_error(path: &Path, err: rustix::io::Errno) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: io::Error::from(err),
    }
}
