//! The stat picture of the working root that a step's changes are found from: every entry's
//! (inode, birth time, size, mtime, ctime, mode, owner, device number, link target), taken
//! before the command runs and again after it.
//!
//! Nothing is hashed: ctime moves whenever an inode's content or metadata changes, and the
//! clock has been made to tick past every ctime of the first picture before the command starts
//! (see [`Picture::wait_for_clock`]), so an unchanged ctime means an unchanged inode. Any other
//! difference is a change to write, even one that leaves the bytes equal: overlayfs copies a
//! file up on any write or metadata change, and the layer must be the one it gives.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::entry::io;
use crate::error::Result;
use strata_oci::MAX_DEPTH;

/// What is compared of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub ino: u64,
    /// Birth time, where the filesystem reports one: tells a directory removed and made again
    /// (which overlay shows as an opaque directory) from the same directory, even when the
    /// inode number was reused.
    pub btime: Option<SystemTime>,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    /// Type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub nlink: u64,
    pub link: Option<PathBuf>,
}

impl Stat {
    fn of(path: &Path, meta: &fs::Metadata) -> Result<Stat> {
        let link = if meta.file_type().is_symlink() {
            Some(fs::read_link(path).map_err(io(path))?)
        } else {
            None
        };
        Ok(Stat {
            ino: meta.ino(),
            btime: meta.created().ok(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev(),
            nlink: meta.nlink(),
            link,
        })
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// The same inode: for a directory, whether it is the one that was there (else it was
    /// removed and made again).
    pub fn same_inode(&self, other: &Stat) -> bool {
        self.ino == other.ino && self.btime == other.btime
    }
}

/// One entry and, for a directory, its children by name.
#[derive(Debug)]
pub struct Node {
    pub stat: Stat,
    pub children: BTreeMap<OsString, Node>,
}

/// Paths (relative to the root) the picture leaves out, with everything below them: the
/// executor's own `/proc`, `/dev`, `/sys`, `/etc` files and `RUN --mount` targets, which the
/// namespaces sandbox mounts over and so never puts in a layer.
#[derive(Debug, Default, Clone)]
pub struct Ignore {
    paths: HashSet<PathBuf>,
}

impl Ignore {
    /// Leaves out `rel` (relative, no leading `/`) and what is below it.
    pub fn add(&mut self, rel: impl Into<PathBuf>) {
        self.paths.insert(rel.into());
    }

    fn contains(&self, rel: &Path) -> bool {
        self.paths.contains(rel)
    }
}

/// A picture of a tree.
#[derive(Debug)]
pub struct Picture {
    pub root: Node,
    /// The latest ctime seen.
    max_ctime: (i64, i64),
    /// Some ctime had a nanosecond part: the filesystem keeps fine timestamps.
    fine: bool,
}

/// Takes the picture of `root`, leaving out `ignore`.
pub fn scan(root: &Path, ignore: &Ignore) -> Result<Picture> {
    let meta = fs::symlink_metadata(root).map_err(io(root))?;
    let mut picture = Picture {
        root: Node {
            stat: Stat::of(root, &meta)?,
            children: BTreeMap::new(),
        },
        max_ctime: (0, 0),
        fine: false,
    };
    let mut children = BTreeMap::new();
    scan_dir(root, Path::new(""), ignore, &mut children, &mut picture, 0)?;
    picture.root.children = children;
    Ok(picture)
}

fn scan_dir(
    host: &Path,
    rel: &Path,
    ignore: &Ignore,
    into: &mut BTreeMap<OsString, Node>,
    picture: &mut Picture,
    depth: usize,
) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(strata_oci::Error::TooDeep {
            path: format!("/{}", rel.display()),
            max: MAX_DEPTH,
        }
        .into());
    }
    for entry in fs::read_dir(host).map_err(io(host))? {
        let entry = entry.map_err(io(host))?;
        let name = entry.file_name();
        let child_rel = rel.join(&name);
        if ignore.contains(&child_rel) {
            continue;
        }
        let path = entry.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Gone since the listing (a process the command left behind is still at work):
            // what is not there is not in the picture.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path)(e)),
        };
        let stat = Stat::of(&path, &meta)?;
        picture.fine |= stat.ctime.1 != 0;
        picture.max_ctime = picture.max_ctime.max(stat.ctime);
        let mut children = BTreeMap::new();
        if stat.is_dir() {
            scan_dir(&path, &child_rel, ignore, &mut children, picture, depth + 1)?;
        }
        into.insert(name, Node { stat, children });
    }
    Ok(())
}

impl Picture {
    /// Waits until the clock the kernel stamps ctimes with has passed every ctime in the
    /// picture, so that anything the command changes gets a later one (file times come from a
    /// coarse clock that ticks every few milliseconds; on a filesystem that keeps whole
    /// seconds, the next second). Usually returns at once: the picture's newest entry is
    /// older than a tick.
    pub fn wait_for_clock(&self) {
        let passed = |now: (i64, i64)| {
            if self.fine {
                now > self.max_ctime
            } else {
                now.0 > self.max_ctime.0
            }
        };
        loop {
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes into a stack timespec.
            unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) };
            if passed((now.tv_sec, now.tv_nsec)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
