//! Directory → deterministic layer tar, hashed while it streams.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use strata_cache::{Digest, Hasher};

use super::tar_format::{finish, pad, write_header_bytes, Entry, EntryType};
use super::{placeholder, xattr, MAX_DEPTH, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::{Error, Result};
use crate::rootfs::{is_opaque, is_overlay_xattr, is_whiteout_at};

/// How to write a layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct LayerOptions {
    /// `SOURCE_DATE_EPOCH`: mtimes later than this are clamped to it.
    pub source_date_epoch: Option<i64>,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSummary {
    /// sha256 of the tar stream.
    pub diff_id: Digest,
    /// Its length in bytes.
    pub size: u64,
}

/// Writes the layer tar of `dir` into `out` and returns its DiffID and size. Entries are
/// sorted (a directory before its contents, names in byte order), headers carry no user or
/// group names, and only the fields we set: the same tree always gives the same bytes.
pub fn write_layer(
    dir: &Path,
    options: &LayerOptions,
    out: &mut dyn Write,
) -> Result<LayerSummary> {
    let mut sink = HashingWriter {
        inner: out,
        hasher: Hasher::new(),
    };
    let mut state = Walk {
        options: *options,
        hardlinks: HashMap::new(),
    };
    state.tree(dir, &mut sink).and_then(|()| {
        finish(&mut sink).map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })
    })?;
    let size = sink.hasher.len();
    Ok(LayerSummary {
        diff_id: sink.hasher.finish(),
        size,
    })
}

struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: Hasher,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Walk {
    options: LayerOptions,
    /// (device, inode) of multiply-linked files → the path first written.
    hardlinks: HashMap<(u64, u64), Vec<u8>>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An entry with no content and no owner: whiteouts and opaque markers (as BuildKit writes).
fn marker(mtime: i64) -> Entry {
    Entry {
        path: String::new(),
        kind: EntryType::File,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 0,
        mtime,
        link: String::new(),
        dev: (0, 0),
        xattrs: Vec::new(),
    }
}

fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + name.len());
    out.extend_from_slice(parent);
    out.extend_from_slice(name);
    out
}

/// A directory being written: its host path, its path in the layer (ending in `/`, empty for
/// the root) and the names still to write, in order.
struct OpenDir {
    host: PathBuf,
    rel: Vec<u8>,
    names: std::vec::IntoIter<OsString>,
}

impl Walk {
    /// Writes every entry below `root`, a directory at a time from an explicit stack: a tree
    /// of any depth costs heap, not stack (a RUN can make a tree thousands of levels deep).
    fn tree(&mut self, root: &Path, out: &mut HashingWriter<'_>) -> Result<()> {
        let mut stack = vec![list(root, Vec::new())?];
        while let Some(top) = stack.last_mut() {
            let Some(name) = top.names.next() else {
                stack.pop();
                continue;
            };
            let path = top.host.join(&name);
            let rel = join(&top.rel, name.as_bytes());
            // Entries of the root are one level deep; the stack holds one directory per level.
            if stack.len() > MAX_DEPTH {
                return Err(Error::TooDeep {
                    path: format!("/{}", String::from_utf8_lossy(&rel)),
                    max: MAX_DEPTH,
                });
            }
            if let Some(dir_rel) = self.entry(&path, &rel, out)? {
                stack.push(list(&path, dir_rel)?);
            }
        }
        Ok(())
    }

    fn mtime(&self, meta: &fs::Metadata) -> i64 {
        match self.options.source_date_epoch {
            Some(epoch) => meta.mtime().min(epoch),
            None => meta.mtime(),
        }
    }

    /// Writes the entry at `path` (`rel` in the layer); for a directory, returns its path in
    /// the layer (with the trailing `/`) for the caller to write its contents next. Names are
    /// handled as bytes throughout: Linux file names need not be UTF-8, and a layer carries
    /// them unchanged.
    fn entry(
        &mut self,
        path: &Path,
        rel: &[u8],
        out: &mut HashingWriter<'_>,
    ) -> Result<Option<Vec<u8>>> {
        let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
        let file_type = meta.file_type();
        let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(slash) => rel.split_at(slash + 1),
            None => (&b""[..], rel),
        };
        if name.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // In a layer this name deletes a file: written as it is, the file would vanish
            // (and take a sibling with it) wherever the layer is unpacked.
            return Err(Error::WhiteoutName {
                path: format!("/{}", String::from_utf8_lossy(rel)),
            });
        }
        if is_whiteout_at(path, &meta) {
            // Overlay's deletion marker becomes OCI's `.wh.NAME`.
            let wh = join(parent, &join(WHITEOUT_PREFIX.as_bytes(), name));
            write_header_bytes(out, &marker(self.mtime(&meta)), &wh, b"").map_err(io_err(path))?;
            return Ok(None);
        }
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(path)
            .map_err(io_err(path))?
            .into_iter()
            .filter(|(key, _)| !is_overlay_xattr(key))
            .collect();
        // A device kept as a placeholder in a user namespace (see `placeholder.rs`).
        let placeholder = (file_type.is_file() && meta.len() == 0)
            .then(|| placeholder::device_of(&xattrs))
            .flatten();
        xattrs.retain(|(key, _)| key != placeholder::DEVICE_XATTR);
        let mut entry = Entry {
            path: String::new(),
            kind: EntryType::File,
            mode: meta.mode() & 0o7777,
            uid: meta.uid() as u64,
            gid: meta.gid() as u64,
            size: 0,
            mtime: self.mtime(&meta),
            link: String::new(),
            dev: (0, 0),
            xattrs,
        };
        if file_type.is_dir() {
            entry.kind = EntryType::Dir;
            let dir_rel = join(rel, b"/");
            write_header_bytes(out, &entry, &dir_rel, b"").map_err(io_err(path))?;
            if is_opaque(path) {
                let opq = join(&dir_rel, OPAQUE_MARKER.as_bytes());
                write_header_bytes(out, &marker(entry.mtime), &opq, b"").map_err(io_err(path))?;
            }
            return Ok(Some(dir_rel));
        }
        if file_type.is_symlink() {
            entry.kind = EntryType::Symlink;
            let target = fs::read_link(path).map_err(io_err(path))?;
            write_header_bytes(out, &entry, rel, target.as_os_str().as_bytes())
                .map_err(io_err(path))?;
            return Ok(None);
        }
        if file_type.is_char_device() || file_type.is_block_device() || file_type.is_fifo() {
            entry.kind = if file_type.is_char_device() {
                EntryType::CharDevice
            } else if file_type.is_block_device() {
                EntryType::BlockDevice
            } else {
                EntryType::Fifo
            };
            let rdev = meta.rdev();
            entry.dev = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
            write_header_bytes(out, &entry, rel, b"").map_err(io_err(path))?;
            return Ok(None);
        }
        if let Some((kind, major, minor)) = placeholder {
            entry.kind = kind;
            entry.dev = (major, minor);
            write_header_bytes(out, &entry, rel, b"").map_err(io_err(path))?;
            return Ok(None);
        }
        if file_type.is_socket() {
            // Sockets cannot live in a tar; docker drops them too.
            return Ok(None);
        }
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.hardlinks.get(&key) {
                entry.kind = EntryType::HardLink;
                write_header_bytes(out, &entry, rel, first).map_err(io_err(path))?;
                return Ok(None);
            }
            self.hardlinks.insert(key, rel.to_vec());
        }
        // The apparent size, read through: holes come out as zeros, never as garbage or
        // a short entry (tar has no portable sparse form that every reader takes).
        entry.size = meta.len();
        write_header_bytes(out, &entry, rel, b"").map_err(io_err(path))?;
        let mut file = File::open(path).map_err(io_err(path))?;
        let copied = copy_exact(&mut file, out, entry.size).map_err(io_err(path))?;
        if copied != entry.size {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: io::Error::other("file changed size while it was being archived"),
            });
        }
        pad(out, entry.size).map_err(io_err(path))?;
        Ok(None)
    }
}

/// The directory `host` (`rel` in the layer) with its names sorted (byte order).
fn list(host: &Path, rel: Vec<u8>) -> Result<OpenDir> {
    let mut names: Vec<OsString> = fs::read_dir(host)
        .map_err(io_err(host))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(io_err(host))?;
    names.sort();
    Ok(OpenDir {
        host: host.to_path_buf(),
        rel,
        names: names.into_iter(),
    })
}

/// Copies exactly `size` bytes (or fewer if the file shrank), never more.
fn copy_exact(file: &mut File, out: &mut impl Write, size: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = size;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(size - left)
}
