//! The stat facts a walked entry keeps. A big context holds tens of thousands of entries, and
//! `fs::Metadata` is about 170 bytes each; these are the ten fields the copy and the digest
//! read, in 72.

use std::fs;
use std::os::unix::fs::MetadataExt;

/// An entry's `lstat` facts: type and permission bits, owner, size, times, identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    ctime_ns: i64,
    dev: u64,
    ino: u64,
    rdev: u64,
}

impl EntryMeta {
    /// The facts of a std metadata record.
    pub fn of(meta: &fs::Metadata) -> Self {
        EntryMeta {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            dev: meta.dev(),
            ino: meta.ino(),
            rdev: meta.rdev(),
        }
    }

    /// The facts of a raw `stat` record. The record's field widths differ between
    /// architectures, hence the casts (some are no-ops on x86_64).
    #[allow(clippy::unnecessary_cast)]
    pub(super) fn of_stat(stat: &rustix::fs::Stat) -> Self {
        EntryMeta {
            mode: stat.st_mode as u32,
            uid: stat.st_uid as u32,
            gid: stat.st_gid as u32,
            size: stat.st_size as u64,
            mtime: stat.st_mtime as i64,
            mtime_nsec: stat.st_mtime_nsec as i64,
            ctime_ns: stat.st_ctime as i64 * 1_000_000_000 + stat.st_ctime_nsec as i64,
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            rdev: stat.st_rdev as u64,
        }
    }

    /// File type and permission bits, as `st_mode`.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Owner user ID.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Owner group ID.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether the size is zero (clippy pairs `is_empty` with `len`).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Modification time, whole seconds since the epoch.
    pub fn mtime(&self) -> i64 {
        self.mtime
    }

    /// Modification time, nanoseconds since the epoch.
    pub fn mtime_ns(&self) -> i64 {
        self.mtime * 1_000_000_000 + self.mtime_nsec
    }

    /// Status-change time, nanoseconds since the epoch.
    pub fn ctime_ns(&self) -> i64 {
        self.ctime_ns
    }

    /// Device the entry is on.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Device number of a device node.
    pub fn rdev(&self) -> u64 {
        self.rdev
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        rustix::fs::FileType::from_raw_mode(self.mode) == rustix::fs::FileType::Directory
    }
}
