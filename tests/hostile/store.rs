//! Hostile store inputs: images whose files would hand another local user root if the store
//! let them reach them, and a disk that fills up while the index is written.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

const NOBODY: &str = "65534";

/// Runs `argv` as uid/gid 65534 with no supplementary groups.
fn as_nobody(argv: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", "--"])
        .args(argv)
        .output()
        .expect("running setpriv")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every file under `dir` that `find` selects with `test` (e.g. `-perm -4000`), not following
/// symlinks.
fn find(dir: &Path, test: &[&str]) -> Vec<PathBuf> {
    let output = Command::new("find").arg(dir).args(test).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Regression (issue 12): the store root and `snapshots/` were 0755, so any local user could
/// run a setuid-root binary an image carried (`snapshots/<id>/…`: uid 65534, euid 0) or open
/// a 0666 device node it held. Docker keeps `/var/lib/docker` and its `overlay2/` 0710.
#[test]
fn another_user_cannot_reach_setuid_files_devices_or_caches_in_the_store() {
    if skip_unless(is_root(), "needs root (mknod, setuid files, setpriv)")
        || skip_unless(have_tool("setpriv"), "setpriv is missing (util-linux)")
    {
        return;
    }
    let env = TestEnv::new();
    // The store's parent is open to everyone: only the store itself may keep others out.
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let rootfs = env.path("rootfs");
    if !make_busybox_rootfs(&rootfs) {
        return;
    }
    let rootshell = rootfs.join("bin/rootshell");
    fs::copy("/bin/busybox", &rootshell).unwrap();
    fs::set_permissions(&rootshell, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::create_dir(rootfs.join("dev")).unwrap();
    let null = rootfs.join("dev/null-again");
    let made = Command::new("mknod")
        .args(["-m", "666"])
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success(), "mknod");
    import_rootfs(&env, &rootfs, "hostile:1", &[]);
    // A RUN's own setuid file, in a layer and in a cache mount.
    let context = env.write_files(
        "ctx",
        &[(
            "Dockerfile",
            "FROM hostile:1\n\
             RUN --mount=type=cache,target=/cache,mode=0755 cp /bin/busybox /bin/built-rootshell \
             && chmod 4755 /bin/built-rootshell && cp /bin/busybox /cache/cached-rootshell \
             && chmod 4755 /cache/cached-rootshell\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "hostile:2", context.to_str().unwrap()]);

    let root = env.root();
    let setuid = find(&root, &["-type", "f", "-perm", "-4000"]);
    let names: Vec<_> = setuid.iter().filter_map(|p| p.file_name()).collect();
    for name in ["rootshell", "built-rootshell", "cached-rootshell"] {
        assert!(names.iter().any(|n| *n == name), "{name} in {setuid:?}");
    }
    let devices = find(&root, &["-type", "c", "-name", "null-again"]);
    assert!(!devices.is_empty(), "the device node is in a snapshot");

    // Control: the user reaches everything up to the store.
    let parent = as_nobody(&["/bin/busybox", "stat", env.dir.path().to_str().unwrap()]);
    assert!(parent.status.success(), "{}", text(&parent));

    let refused = |argv: &[&str]| {
        let output = as_nobody(argv);
        assert!(
            !output.status.success() && text(&output).contains("Permission denied"),
            "{argv:?} as uid 65534 must be refused:\n{}",
            text(&output)
        );
    };
    refused(&["/bin/busybox", "ls", root.to_str().unwrap()]);
    for file in &setuid {
        let file = file.to_str().unwrap();
        refused(&["/bin/busybox", "stat", file]);
        // From a shell already running as 65534: setpriv itself execs while it still holds
        // its capabilities (they go at exec), which would not test the store.
        refused(&["/bin/busybox", "sh", "-c", "exec \"$0\" id -u", file]);
    }
    for device in &devices {
        let device = device.to_str().unwrap();
        refused(&["/bin/busybox", "stat", device]);
        refused(&["/bin/busybox", "head", "-c", "1", device]);
    }
    for dir in ["", "blobs", "snapshots", "tmp", "index", "cache-mounts"] {
        assert_eq!(mode(&root.join(dir)), 0o700, "`{dir}`");
    }
}

/// A store an older strata made (0755 everywhere) is closed when a command opens it, and the
/// command says so once.
#[test]
fn a_store_open_to_other_users_is_tightened_when_opened() {
    let Some(env) = env_with_imported_busybox("bb:1", "CMD [\"sh\"]") else {
        return;
    };
    let root = env.root();
    fs::create_dir_all(root.join("cache-mounts/0123")).unwrap();
    let dirs = ["", "blobs", "snapshots", "tmp", "index", "cache-mounts"];
    for dir in dirs {
        fs::set_permissions(root.join(dir), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let output = env.run(&["images"]);
    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: store `")
            && stderr.contains("was open to other users (mode 0755): made it 0700"),
        "{stderr}"
    );
    for dir in dirs {
        assert_eq!(mode(&root.join(dir)), 0o700, "`{dir}`");
    }
    // A cache's own mode is what its mount asked for, and stays.
    assert_eq!(mode(&root.join("cache-mounts/0123")), 0o755);
    let again = env.run(&["images"]);
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stderr), "");
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    mount: PathBuf,
}

impl SmallDisk {
    fn mount(at: PathBuf, size: &str) -> Option<SmallDisk> {
        fs::create_dir_all(&at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            skip("could not mount a tmpfs (mount -t tmpfs failed)");
            return None;
        }
        Some(SmallDisk { mount: at })
    }

    fn free_bytes(&self) -> u64 {
        let output = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(&self.mount)
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let (blocks, size) = text.trim().split_once(' ').unwrap();
        blocks.parse::<u64>().unwrap() * size.parse::<u64>().unwrap()
    }

    /// Fills it with one file, leaving `leave` bytes free.
    fn fill_leaving(&self, leave: u64) {
        let size = self.free_bytes().saturating_sub(leave);
        fs::write(self.mount.join("fill"), vec![0u8; size as usize]).unwrap();
    }

    fn unfill(&self) {
        fs::remove_file(self.mount.join("fill")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}

fn generating(index: &Path) -> Vec<String> {
    fs::read_dir(index)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|name| name.starts_with("snap.") && name.ends_with(".generating"))
        .collect()
}

/// Regression (issue 12): a command run while the disk was full left sled an empty
/// `snap.*.generating` file, and from then on every command failed with `Read corrupted data`,
/// even once space was back. The next command now repairs the index, says so, and has
/// everything that was committed.
#[test]
fn an_index_a_full_disk_left_unreadable_is_repaired_by_the_next_command() {
    if skip_unless(is_root(), "mounting a small tmpfs needs root") {
        return;
    }
    let env = TestEnv::new();
    let rootfs = env.path("rootfs");
    if !make_busybox_rootfs(&rootfs) {
        return;
    }
    let tar = env.path("rootfs.tar");
    tar_dir(&rootfs, &tar);
    let Some(disk) = SmallDisk::mount(env.path("small"), "16m") else {
        return;
    };
    let root = disk.mount.join("root");
    let strata = |args: &[&str]| {
        Command::new(strata_bin())
            .arg("--root")
            .arg(&root)
            .args(args)
            .env_remove("STRATA_ROOT")
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| {
        let output = strata(args);
        assert!(output.status.success(), "{args:?}: {}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    ok(&["import", tar.to_str().unwrap(), "bb:1"]);
    for n in 2..40 {
        ok(&["tag", "bb:1", &format!("bb:{n}")]);
    }
    let listed = ok(&["images"]);
    assert_eq!(
        listed.lines().filter(|l| l.starts_with("bb ")).count(),
        39,
        "{listed}"
    );
    // sled writes a snapshot when it opens a log that grew since the last one.
    ok(&["tag", "bb:1", "bb:40"]);

    // Fill the disk so that the next command's open gets as far as sled's snapshot and fails
    // writing it: how much room that takes depends on sled's layout, so from the same index
    // each time, leave one more page free until it happens.
    let index = root.join("index");
    let saved = env.path("index-before");
    let copy = |from: &Path, to: &Path| {
        let _ = fs::remove_dir_all(to);
        assert!(Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap()
            .success());
    };
    copy(&index, &saved);
    let left = (0..128u64).find_map(|pages| {
        disk.fill_leaving(pages * 4096);
        let output = strata(&["images"]);
        let left = generating(&index);
        disk.unfill();
        if !output.status.success() && !left.is_empty() {
            return Some((left, output));
        }
        copy(&saved, &index);
        None
    });
    let (left, failed) = left.expect("a full disk while sled writes its snapshot");
    assert!(
        text(&failed).contains("no space left on device"),
        "{}",
        text(&failed)
    );

    // Space is back: the next command works, warns about what it removed, loses nothing.
    let output = strata(&["images"]);
    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: index `")
            && stderr.contains(&format!("removed `{}`", left[0]))
            && stderr.contains("the disk was full"),
        "{stderr}"
    );
    let listed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        listed.lines().filter(|l| l.starts_with("bb ")).count(),
        40,
        "{listed}"
    );
    assert!(generating(&index).is_empty());
    ok(&["tag", "bb:1", "bb:after"]);
    let output = strata(&["images"]);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert!(String::from_utf8_lossy(&output.stdout).contains("after"));
}
