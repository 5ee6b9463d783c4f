//! Helpers shared by the integration tests: running the `strata` binary against a temporary
//! store, making a busybox base rootfs offline, and skipping cleanly when a tool is missing.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `strata` binary cargo built for these tests.
pub fn strata_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

/// A temporary store root plus a scratch dir, removed when dropped.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        // Under target/ rather than /tmp: the store needs a real disk filesystem (overlayfs
        // upper dirs and trusted xattrs do not work on every tmpfs).
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(base).unwrap();
        TestEnv {
            dir: tempfile::tempdir_in(base).unwrap(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `strata --root <root> args…`, ready to run.
    pub fn strata(&self, args: &[&str]) -> Command {
        let mut command = Command::new(strata_bin());
        command.arg("--root").arg(self.root()).args(args);
        command.env_remove("STRATA_ROOT");
        command
    }

    /// Runs strata and returns its output (whatever the exit code).
    pub fn run(&self, args: &[&str]) -> Output {
        self.strata(args).output().expect("running strata")
    }

    /// Runs strata with `input` on its stdin; returns its output (whatever the exit code).
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write as _;
        use std::process::Stdio;
        let mut child = self
            .strata(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running strata");
        // A command that fails early may close stdin before reading it all.
        let _ = child.stdin.take().expect("piped").write_all(input);
        child.wait_with_output().expect("waiting for strata")
    }

    /// Runs strata, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "strata {args:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Writes files (path, content) under the scratch dir, creating parents.
    pub fn write_files(&self, dir: &str, files: &[(&str, &str)]) -> PathBuf {
        let base = self.path(dir);
        for (path, content) in files {
            let full = base.join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, content).unwrap();
        }
        fs::create_dir_all(&base).unwrap();
        base
    }
}

pub use strata_testkit::{is_root, skip, skip_unless};

/// True when `program` is an executable file or found on PATH.
pub fn have_tool(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// True when Debian's docker client answers and a daemon is running.
pub fn docker_available() -> bool {
    Path::new("/usr/bin/docker").is_file()
        && Command::new("/usr/bin/docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
}

/// Applets the test base image links to busybox.
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "mkdir", "rm", "rmdir", "touch", "chmod", "chown", "cp", "mv", "ln",
    "id", "hostname", "env", "test", "true", "false", "sleep", "printf", "stat", "find", "grep",
    "sed", "wc", "head", "tail", "ps", "mount", "whoami", "readlink", "tar", "sort",
];

/// Makes a busybox root filesystem in `dir` from Debian's busybox-static: `/bin/busybox`, the
/// applet links, `/etc/passwd` and `/etc/group` with root and a couple of users, `/tmp` 1777.
/// Returns false (and prints why) when /bin/busybox is missing.
pub fn make_busybox_rootfs(dir: &Path) -> bool {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        skip("/bin/busybox is missing (apt-get install busybox-static)");
        return false;
    }
    for sub in ["bin", "etc", "tmp", "root", "home/app"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::chown(dir.join("home/app"), Some(1000), Some(1000)).ok();
    true
}

/// Tars a directory (as a rootfs tarball for `strata import` / `docker import`).
pub fn tar_dir(dir: &Path, out: &Path) {
    let status = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .expect("running tar");
    assert!(status.success(), "tar failed");
}

/// A store (root needed: snapshots keep root-owned files and whiteouts) holding `name`, a
/// busybox root filesystem imported with `PATH=/bin` and `cmd` (a `CMD` line).
pub fn env_with_imported_busybox(name: &str, cmd: &str) -> Option<TestEnv> {
    if skip_unless(
        is_root(),
        "needs root (snapshots keep root-owned files and whiteouts)",
    ) {
        return None;
    }
    let env = TestEnv::new();
    let rootfs = env.path("rootfs");
    if !make_busybox_rootfs(&rootfs) {
        return None;
    }
    import_rootfs(&env, &rootfs, name, &[cmd]);
    Some(env)
}

/// Tars `rootfs` and imports it into `env`'s store as `name`, with `PATH=/bin` and `changes`
/// (Dockerfile lines, as `strata import --change`).
pub fn import_rootfs(env: &TestEnv, rootfs: &Path, name: &str, changes: &[&str]) {
    let tar = env.path("rootfs.tar");
    tar_dir(rootfs, &tar);
    let mut args = vec!["import", "--change", "ENV PATH=/bin"];
    for change in changes {
        args.extend(["--change", change]);
    }
    args.extend([tar.to_str().unwrap(), name]);
    env.ok(&args);
}

/// A minimal Debian bookworm root filesystem tarball (mmdebstrap `minbase`, with apt and dpkg),
/// made once per machine and kept at `/var/tmp/strata-test-debian-bookworm.tar`: the base for
/// the real-world `apt-get install` builds. None (after `skip`) when mmdebstrap is missing.
pub fn debian_rootfs_tar() -> Option<PathBuf> {
    let tar = PathBuf::from("/var/tmp/strata-test-debian-bookworm.tar");
    if tar.is_file() {
        return Some(tar);
    }
    if skip_unless(
        have_tool("mmdebstrap") && is_root(),
        "needs root and mmdebstrap (apt-get install mmdebstrap) to make a Debian base",
    ) {
        return None;
    }
    // Parallel tests may race to make it: the first takes a lock and makes it, the others wait
    // on the lock and then find it. The partial file keeps the `.tar` ending, from which
    // mmdebstrap chooses its output format (anything else makes it write a directory).
    let lock = fs::File::create(tar.with_extension("lock")).expect("creating the debian lock");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("locking");
    if tar.is_file() {
        return Some(tar);
    }
    let partial = tar.with_extension(format!("{}.partial.tar", std::process::id()));
    let status = Command::new("mmdebstrap")
        .args([
            "--variant=minbase",
            "--mode=root",
            "--format=tar",
            "--quiet",
            "bookworm",
        ])
        .arg(&partial)
        .arg("http://deb.debian.org/debian")
        .status()
        .expect("running mmdebstrap");
    assert!(status.success(), "mmdebstrap failed");
    assert!(
        partial.is_file(),
        "mmdebstrap wrote no tarball at {}",
        partial.display()
    );
    fs::rename(&partial, &tar).unwrap();
    Some(tar)
}

/// This machine's first non-loopback IPv4 address, if it has one (the "outside" for tests
/// that must not use loopback).
pub fn external_address() -> Option<String> {
    let output = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_string)
}
