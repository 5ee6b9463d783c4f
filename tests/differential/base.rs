//! The base image every case builds from: a busybox rootfs tarball written here (no registry
//! is reachable), imported into docker and into strata from the same bytes.
//!
//! The tarball is deterministic (fixed times, owners and order), so its sha256 only changes
//! when /bin/busybox or this file does: docker's copy is re-imported only then, and docker's
//! build cache stays warm between runs.

use std::io::Write;
use std::path::Path;

/// The name both stores know the base as; Dockerfiles say `FROM strata-diff-base:1`.
pub const BASE: &str = "strata-diff-base:1";

const BUSYBOX: &str = "/bin/busybox";

/// Applets linked in /bin (Debian's busybox has no adduser/addgroup: passwd and group are
/// written out below).
const APPLETS: &[&str] = &[
    "ash",
    "basename",
    "cat",
    "chmod",
    "chown",
    "cp",
    "cut",
    "date",
    "dd",
    "dirname",
    "echo",
    "env",
    "expr",
    "false",
    "find",
    "grep",
    "gunzip",
    "gzip",
    "head",
    "hostname",
    "id",
    "ln",
    "ls",
    "mkdir",
    "mkfifo",
    "mknod",
    "mktemp",
    "mv",
    "printf",
    "pwd",
    "readlink",
    "realpath",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sh",
    "sha256sum",
    "sleep",
    "sort",
    "stat",
    "tail",
    "tar",
    "tee",
    "test",
    "touch",
    "tr",
    "true",
    "truncate",
    "uname",
    "uniq",
    "wc",
    "whoami",
    "xargs",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
dev:x:1001:1001:dev:/home/dev:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";

const GROUP: &str = "root:x:0:
daemon:x:1:
staff:x:50:app,dev
app:x:1000:
dev:x:1001:
nogroup:x:65534:
";

/// (path, mode, uid, gid) of the directories, parents first.
const DIRS: &[(&str, u32, u64, u64)] = &[
    ("bin", 0o755, 0, 0),
    ("dev", 0o755, 0, 0),
    ("etc", 0o755, 0, 0),
    ("home", 0o755, 0, 0),
    ("home/app", 0o755, 1000, 1000),
    ("home/dev", 0o750, 1001, 1001),
    ("opt", 0o755, 0, 0),
    ("opt/data", 0o755, 0, 0),
    ("opt/data/sub", 0o755, 0, 0),
    ("proc", 0o555, 0, 0),
    ("root", 0o700, 0, 0),
    ("srv", 0o755, 0, 0),
    ("srv/real", 0o755, 0, 0),
    ("sys", 0o555, 0, 0),
    ("tmp", 0o1777, 0, 0),
    ("usr", 0o755, 0, 0),
    ("usr/local", 0o755, 0, 0),
    ("usr/local/bin", 0o755, 0, 0),
    ("var", 0o755, 0, 0),
    ("var/log", 0o755, 0, 0),
];

/// (path, mode, uid, gid, content) of the small files.
const FILES: &[(&str, u32, u64, u64, &str)] = &[
    ("etc/passwd", 0o644, 0, 0, PASSWD),
    ("etc/group", 0o644, 0, 0, GROUP),
    ("etc/motd", 0o644, 0, 0, "strata differential base\n"),
    ("home/app/.profile", 0o644, 1000, 1000, "export APP=1\n"),
    ("opt/data/a.txt", 0o644, 0, 0, "base a\n"),
    ("opt/data/b.txt", 0o600, 1000, 50, "base b\n"),
    ("opt/data/sub/c.txt", 0o644, 0, 0, "base c\n"),
    ("srv/real/keep.txt", 0o644, 0, 0, "kept\n"),
    ("var/log/base.log", 0o640, 0, 0, "log line\n"),
];

/// (path, target) of the symlinks besides the applets.
const SYMLINKS: &[(&str, &str)] = &[("srv/link", "real"), ("usr/bin", "../bin")];

/// True when the busybox binary the base needs is there.
pub fn busybox_available() -> bool {
    Path::new(BUSYBOX).is_file()
}

/// Writes the base rootfs tarball to `out`.
pub fn write_base_tar(out: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    let header = |ty: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(ty);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header
    };
    builder.append_data(
        &mut header(tar::EntryType::Directory, 0o755, 0, 0, 0),
        "./",
        std::io::empty(),
    )?;
    for (path, mode, uid, gid) in DIRS {
        let mut h = header(tar::EntryType::Directory, *mode, *uid, *gid, 0);
        builder.append_data(&mut h, format!("./{path}/"), std::io::empty())?;
    }
    let busybox = std::fs::read(BUSYBOX)?;
    let mut h = header(tar::EntryType::Regular, 0o755, 0, 0, busybox.len() as u64);
    builder.append_data(&mut h, "./bin/busybox", busybox.as_slice())?;
    for applet in APPLETS {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
        builder.append_link(&mut h, format!("./bin/{applet}"), "busybox")?;
    }
    for (path, mode, uid, gid, content) in FILES {
        let mut h = header(
            tar::EntryType::Regular,
            *mode,
            *uid,
            *gid,
            content.len() as u64,
        );
        builder.append_data(&mut h, format!("./{path}"), content.as_bytes())?;
    }
    for (path, target) in SYMLINKS {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
        builder.append_link(&mut h, format!("./{path}"), target)?;
    }
    builder.into_inner()?.flush()
}
