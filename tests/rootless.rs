//! Rootless mode: the same builds as root, run by a user the test creates (`useradd`, which on
//! Debian also gives it a range in `/etc/subuid` and `/etc/subgid`), must give the same image
//! IDs; a cache exported by root must serve the user's build; without subordinate ids only
//! root is mapped and the build says so. Needs root (to make the users), `uidmap` and
//! busybox-static; the Debian build needs mmdebstrap and the network to deb.debian.org.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use crate::util::{debian_rootfs_tar, have_tool, is_root, skip_unless, strata_bin, TestEnv};

/// Every build here clamps its timestamps, so root and rootless builds can be compared.
const EPOCH: &str = "1700000000";

/// `useradd` and `userdel` lock `/etc/passwd`: one at a time within this test binary.
static USERS: Mutex<()> = Mutex::new(());

/// A user made for one test and removed (with its home and its store) when dropped.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
    strata: PathBuf,
}

impl TestUser {
    /// Makes the user, with subordinate ids or explicitly without; `None` (after `skip`)
    /// when the prerequisites are missing.
    fn create(tag: &str, subordinate_ids: bool) -> Option<TestUser> {
        if skip_unless(is_root(), "making test users needs root")
            || skip_unless(
                have_tool("useradd") && have_tool("newuidmap") && have_tool("newgidmap"),
                "needs useradd and newuidmap/newgidmap (apt-get install uidmap)",
            )
            || skip_unless(
                Path::new("/bin/busybox").is_file(),
                "/bin/busybox missing (busybox-static)",
            )
        {
            return None;
        }
        let name = format!("strata-{tag}-{}", std::process::id());
        let mut useradd = Command::new("useradd");
        useradd.arg("-m");
        if !subordinate_ids {
            useradd.args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]);
        }
        let status = {
            let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
            useradd.arg(&name).status().expect("running useradd")
        };
        assert!(status.success(), "useradd {name} failed");
        let home = PathBuf::from(format!("/home/{name}"));
        let meta = fs::metadata(&home).unwrap();
        let mut user = TestUser {
            name,
            uid: meta.uid(),
            gid: meta.gid(),
            strata: PathBuf::new(),
            home,
        };
        let listed = fs::read_to_string("/etc/subuid")
            .unwrap_or_default()
            .lines()
            .any(|line| line.starts_with(&format!("{}:", user.name)));
        assert_eq!(
            listed, subordinate_ids,
            "useradd gave {} subordinate ids: {listed}",
            user.name
        );
        user.strata = user.reachable_strata();
        Some(user)
    }

    /// The strata binary, or a copy in the user's home when the user cannot reach it (a
    /// checkout under `/root`).
    fn reachable_strata(&self) -> PathBuf {
        let bin = Path::new(strata_bin());
        let others_may = |path: &Path, bits: u32| {
            fs::metadata(path).is_ok_and(|m| m.permissions().mode() & bits == bits)
        };
        let reachable = others_may(bin, 0o005)
            && bin
                .ancestors()
                .skip(1)
                .all(|dir| dir.as_os_str().is_empty() || others_may(dir, 0o001));
        if reachable {
            return bin.to_path_buf();
        }
        let copy = self.home.join("strata");
        fs::copy(bin, &copy).unwrap();
        self.chown(&copy);
        copy
    }

    fn chown(&self, path: &Path) {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Copies a file or directory into the user's home (owned by the user); its new path.
    fn give(&self, source: &Path, name: &str) -> PathBuf {
        let target = self.home.join(name);
        let status = Command::new("cp")
            .arg("-a")
            .arg(source)
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success(), "cp {}", source.display());
        self.chown(&target);
        target
    }

    /// `strata args…` as the user, in its home, with its default store and a clean
    /// environment.
    fn strata(&self, args: &[&str]) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(&self.strata);
        command
            .args(args)
            .current_dir(&self.home)
            .env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .uid(self.uid)
            .gid(self.gid);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.strata(args)
            .output()
            .expect("running strata as the test user")
    }

    /// Builds with plain progress; (success, stderr, image ID).
    fn build(&self, dir: &Path, extra: &[&str]) -> (bool, String, String) {
        let iid = self.home.join("iid");
        let _ = fs::remove_file(&iid);
        let mut args = vec!["build", "--progress", "plain", "--iidfile"];
        args.push(iid.to_str().unwrap());
        args.extend_from_slice(extra);
        args.push(dir.to_str().unwrap());
        let output = self.run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (
            output.status.success(),
            stderr,
            fs::read_to_string(&iid).unwrap_or_default(),
        )
    }

    fn build_ok(&self, dir: &Path, extra: &[&str]) -> (String, String) {
        let (ok, log, id) = self.build(dir, extra);
        assert!(ok, "rootless build of {} failed:\n{log}", dir.display());
        (log, id)
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "strata {args:?} as {} failed:\n{}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .output();
    }
}

/// The root side: a store and a build with the same clamped timestamps.
fn root_build(env: &TestEnv, dir: &Path, extra: &[&str]) -> (String, String) {
    let iid = env.path("iid");
    let _ = fs::remove_file(&iid);
    let mut args = vec!["build", "--progress", "plain", "--iidfile"];
    args.push(iid.to_str().unwrap());
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let output = env
        .strata(&args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "root build failed:\n{log}");
    (log, fs::read_to_string(&iid).unwrap())
}

/// examples/base with Debian's busybox copied in, under `parent`.
fn busybox_base_context(parent: &Path) -> PathBuf {
    let dir = parent.join("base");
    fs::create_dir_all(&dir).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/base/Dockerfile");
    fs::copy(example, dir.join("Dockerfile")).unwrap();
    fs::copy("/bin/busybox", dir.join("busybox")).unwrap();
    dir
}

#[test]
fn the_espy_example_builds_rootless_to_the_same_image_as_root() {
    let Some(user) = TestUser::create("espy", true) else {
        return;
    };
    let root = TestEnv::new();
    let base = busybox_base_context(root.dir.path());
    let espy = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/espy");
    let (_, root_base) = root_build(&root, &base, &["-t", "strata-busybox:latest"]);
    let (_, root_espy) = root_build(&root, &espy, &["-t", "espy"]);

    let (log, user_base) = user.build_ok(&user.give(&base, "base"), &["-t", "strata-busybox"]);
    assert!(log.contains("isolation: rootless ("), "{log}");
    assert!(log.contains("65536 subordinate ids"), "{log}");
    let (_, user_espy) = user.build_ok(&user.give(&espy, "espy"), &["-t", "espy"]);
    assert_eq!(user_base, root_base, "the base image differs");
    assert_eq!(user_espy, root_espy, "the espy image differs");

    // The store is the user's default one, and the espy user's files there belong to a
    // subordinate id on the host while the image says 1000.
    let store = user.home.join(".local/share/strata");
    assert!(
        store.join("blobs").is_dir(),
        "no store at {}",
        store.display()
    );
    let output = user.ok(&[
        "run",
        "--rm",
        "espy",
        "sh",
        "-c",
        "id -u; stat -c %u /app/data",
    ]);
    assert_eq!(output, "1000\n1000\n");
    let first_subuid = fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|line| {
            line.strip_prefix(&format!("{}:", user.name))?
                .split(':')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .unwrap();
    // Inside, id N > 0 is the N-th subordinate id: 1000 is first_subuid + 999 on the host.
    let found = Command::new("find")
        .arg(store.join("snapshots"))
        .args(["-path", "*/app/data", "-printf", "%U\\n"])
        .output()
        .unwrap();
    let data_owner = String::from_utf8_lossy(&found.stdout)
        .lines()
        .next()
        .and_then(|uid| uid.parse::<u32>().ok());
    assert_eq!(data_owner, Some(first_subuid + 999));
}

#[test]
fn forty_run_steps_give_the_same_image_rootless() {
    let Some(user) = TestUser::create("forty", true) else {
        return;
    };
    let root = TestEnv::new();
    let base = busybox_base_context(root.dir.path());
    let mut dockerfile = String::from("FROM strata-busybox:latest\n");
    for n in 0..40 {
        dockerfile.push_str(&format!(
            "RUN mkdir -p /steps/{n} && echo {n} > /steps/{n}/n && chown {n}:{n} /steps/{n}/n\n"
        ));
    }
    let app = root.write_files("forty", &[("Dockerfile", &dockerfile)]);
    root_build(&root, &base, &["-t", "strata-busybox:latest"]);
    let (_, root_id) = root_build(&root, &app, &[]);
    user.build_ok(&user.give(&base, "base"), &["-t", "strata-busybox"]);
    let (log, user_id) = user.build_ok(&user.give(&app, "forty"), &[]);
    assert_eq!(log.matches(" DONE ").count(), 40, "{log}");
    assert_eq!(user_id, root_id);
}

#[test]
fn a_debian_apt_get_install_gives_the_same_image_rootless() {
    let Some(tar) = debian_rootfs_tar() else {
        return;
    };
    let tun_mode = fs::metadata("/dev/net/tun").map_or(0, |m| m.permissions().mode());
    if skip_unless(
        tun_mode & 0o006 == 0o006,
        "a rootless RUN reaches the network through /dev/net/tun: chmod 0666 /dev/net/tun \
         (udev's mode; scripts/test sets it)",
    ) {
        return;
    }
    let Some(user) = TestUser::create("apt", true) else {
        return;
    };
    let root = TestEnv::new();
    root.ok(&[
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        tar.to_str().unwrap(),
        "debian:bookworm",
    ]);
    // The user loads root's image (an import's creation time would differ).
    let saved = root.path("debian.tar");
    root.ok(&["save", "-o", saved.to_str().unwrap(), "debian:bookworm"]);
    user.ok(&[
        "load",
        "-i",
        user.give(&saved, "debian.tar").to_str().unwrap(),
    ]);
    // apt and dpkg log with wall-clock times and rebuild their caches: gone, the layer is
    // the same bytes in both modes. `useradd` and `chown` need the subordinate ids.
    let dockerfile = "FROM debian:bookworm\n\
        RUN apt-get update && apt-get install -y --no-install-recommends hello \\\n \
        && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/*.log /var/log/dpkg.log \\\n \
        && hello\n\
        RUN useradd -m -u 1234 bob && mkdir /data && chown 100:100 /data \\\n \
        && stat -c '%u:%g %n' /home/bob /data\n";
    let app = root.write_files("apt", &[("Dockerfile", dockerfile)]);
    let (root_log, root_id) = root_build(&root, &app, &[]);
    assert!(root_log.contains("Hello, world!"), "{root_log}");
    let (log, user_id) = user.build_ok(&user.give(&app, "apt"), &[]);
    assert!(log.contains("Hello, world!"), "{log}");
    assert!(log.contains("1234:1234 /home/bob"), "{log}");
    assert!(log.contains("100:100 /data"), "{log}");
    assert_eq!(user_id, root_id);
}

#[test]
fn a_cache_exported_by_root_serves_every_step_of_a_rootless_build() {
    let Some(user) = TestUser::create("cache", true) else {
        return;
    };
    let root = TestEnv::new();
    let dir = root.write_files(
        "app",
        &[(
            "Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             RUN mkdir /owned && echo x > /owned/x && chown -R 100:100 /owned && echo ran-owned\n\
             RUN rm /bin/wget && echo ran-removed\n",
        )],
    );
    fs::copy("/bin/busybox", dir.join("busybox")).unwrap();
    let cache = root.path("cache");
    let to = format!("type=local,dest={}", cache.display());
    let (_, root_id) = root_build(&root, &dir, &["--cache-to", &to]);
    let cache = user.give(&cache, "cache");
    let from = format!("type=local,src={}", cache.display());
    let (log, user_id) = user.build_ok(&user.give(&dir, "app"), &["--cache-from", &from]);
    assert_eq!(log.matches("CACHED").count(), 4, "{log}");
    // A RUN's output line is `#N 0.123 text`; the steps' titles name `ran-` too.
    let ran = log.lines().any(|line| {
        let parts: Vec<&str> = line.splitn(3, ' ').collect();
        parts.len() == 3 && parts[1].parse::<f64>().is_ok() && parts[2].starts_with("ran-")
    });
    assert!(!ran, "a RUN ran:\n{log}");
    assert_eq!(user_id, root_id);
}

#[test]
fn without_subordinate_ids_root_alone_is_mapped_and_the_build_warns() {
    let Some(user) = TestUser::create("nosub", false) else {
        return;
    };
    let scratch = TestEnv::new();
    let base = busybox_base_context(scratch.dir.path());
    let base = user.give(&base, "base");
    let (log, _) = user.build_ok(&base, &["-t", "strata-busybox"]);
    assert!(log.contains("mapping uid"), "{log}");
    assert!(log.contains("chown to other ids"), "{log}");
    assert!(log.contains("usermod --add-subuids"), "{log}");
    let chown = scratch.write_files(
        "chown",
        &[(
            "Dockerfile",
            "FROM strata-busybox\nRUN touch /x && chown 100:100 /x\n",
        )],
    );
    let (ok, log, _) = user.build(&user.give(&chown, "chown"), &[]);
    assert!(!ok, "chown to an unmapped id succeeded:\n{log}");
    assert!(log.contains("Invalid argument"), "{log}");
    let info = user.ok(&["info"]);
    assert!(info.contains("rootless: available, with limits"), "{info}");
    assert!(info.contains("subordinate uids: none"), "{info}");
}

#[test]
fn rootless_runs_keep_the_sandbox_hardening() {
    let Some(user) = TestUser::create("harden", true) else {
        return;
    };
    let scratch = TestEnv::new();
    let base = user.give(&busybox_base_context(scratch.dir.path()), "base");
    user.build_ok(&base, &["-t", "strata-busybox"]);
    let probe = scratch.write_files(
        "probe",
        &[(
            "Dockerfile",
            "FROM strata-busybox\nRUN grep -E '^(Seccomp|NoNewPrivs|CapBnd):' /proc/self/status \\\n              && (mknod /tmp/disk b 8 0 && echo mknod-allowed || echo mknod-refused) \\\n              && (echo x > /proc/sys/kernel/hostname && echo sysctl-written || echo sysctl-refused) \\\n              && head -n1 /proc/self/uid_map\n",
        )],
    );
    let (log, _) = user.build_ok(&user.give(&probe, "probe"), &["--no-cache"]);
    for expected in [
        "Seccomp:\t2",
        "NoNewPrivs:\t1",
        // docker's default capability set, as in root mode.
        "CapBnd:\t00000000a80425fb",
        "mknod-refused",
        "sysctl-refused",
    ] {
        assert!(log.contains(expected), "{expected:?} missing:\n{log}");
    }
    // Root in the sandbox is the user on the host.
    let mapping = format!(" 0 {} 1", user.uid);
    let squeezed: String = log.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squeezed.contains(&mapping), "{log}");
}

#[test]
fn device_nodes_of_a_base_image_survive_a_rootless_load() {
    let Some(user) = TestUser::create("devices", true) else {
        return;
    };
    let root = TestEnv::new();
    let rootfs = root.path("rootfs");
    fs::create_dir_all(rootfs.join("dev")).unwrap();
    fs::write(rootfs.join("hello"), "hi\n").unwrap();
    for (name, kind, major, minor) in [("null", "c", "1", "3"), ("disk", "b", "8", "0")] {
        let status = Command::new("mknod")
            .arg(rootfs.join("dev").join(name))
            .args([kind, major, minor])
            .status()
            .unwrap();
        assert!(status.success(), "mknod {name}");
    }
    crate::util::import_rootfs(&root, &rootfs, "devices:1", &[]);
    let saved = root.path("devices.tar");
    root.ok(&["save", "-o", saved.to_str().unwrap(), "devices:1"]);
    user.ok(&[
        "load",
        "-i",
        user.give(&saved, "devices.tar").to_str().unwrap(),
    ]);
    // A user namespace cannot make the nodes: the snapshot keeps placeholders, and the
    // filesystem written back from it has the devices again.
    let exported = user.home.join("flat.tar");
    user.ok(&["export", "-o", exported.to_str().unwrap(), "devices:1"]);
    let listing = Command::new("tar")
        .arg("-tvf")
        .arg(&exported)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{listing}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let null = line("dev/null");
    assert!(null[0].starts_with('c'), "{null:?}");
    assert_eq!(null[2], "1,3", "{null:?}");
    let disk = line("dev/disk");
    assert!(disk[0].starts_with('b'), "{disk:?}");
    assert_eq!(disk[2], "8,0", "{disk:?}");
}
