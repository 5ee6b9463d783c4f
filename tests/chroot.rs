//! Chroot isolation where it is needed: strata inside `docker run` with docker's default
//! capabilities and seccomp profile (no `--privileged`, no added capability) — what a
//! Kubernetes pod without privileges is. Each build there must give the image ID the root
//! namespaces build gives on the host, and a cache exported by the host must serve it.
//!
//! The container's image is made here: the strata binary, the shared libraries `ldd` names,
//! and Debian's busybox-static, imported from a root filesystem directory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::util::{
    debian_rootfs_tar, docker_available, have_tool, is_root, skip_unless, strata_bin, TestEnv,
};

const DOCKER: &str = "/usr/bin/docker";
const EPOCH: &str = "1700000000";
const REPOSITORY: &str = "strata-chroot-test";

fn prerequisites() -> bool {
    !skip_unless(
        is_root() && docker_available() && have_tool("ldd") && Path::new("/bin/busybox").is_file(),
        "needs root, a running dockerd (/usr/bin/docker), ldd and /bin/busybox",
    )
}

/// The image holding this build's strata binary (tagged by the binary's digest, made once per
/// test run; older tags of it are removed).
fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let binary = fs::read(strata_bin()).unwrap();
        let digest = strata_cache::Digest::of(&binary).hex();
        let tag = format!("{REPOSITORY}:{}", &digest[..16]);
        let present = Command::new(DOCKER)
            .args(["image", "inspect", &tag])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            make_image(&tag);
        }
        tag
    })
}

fn make_image(tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    for sub in ["bin", "usr/local/bin", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy(strata_bin(), rootfs.join("usr/local/bin/strata")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "cat", "ls", "echo", "tail"] {
        symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let ldd = Command::new("ldd").arg(strata_bin()).output().unwrap();
    for library in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let target = rootfs.join(library.trim_start_matches('/'));
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(library, &target).unwrap();
    }
    let tar = dir.path().join("rootfs.tar");
    crate::util::tar_dir(&rootfs, &tar);
    // Older images of earlier binaries go first: one per binary would pile up.
    let listed = Command::new(DOCKER)
        .args(["images", REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    for old in String::from_utf8_lossy(&listed.stdout).lines() {
        let _ = Command::new(DOCKER).args(["rmi", "-f", old]).output();
    }
    let imported = Command::new(DOCKER)
        .arg("import")
        .arg(&tar)
        .arg(tag)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
}

/// Runs `script` with `sh -c` in a fresh container of the image (default capabilities and
/// seccomp profile), with `mounts` (host path, container path) bound read-only.
fn in_container(mounts: &[(&Path, &str)], script: &str) -> Output {
    let mut command = Command::new(DOCKER);
    command.args(["run", "--rm", "-e", &format!("SOURCE_DATE_EPOCH={EPOCH}")]);
    for (host, inside) in mounts {
        command
            .arg("-v")
            .arg(format!("{}:{inside}:ro", host.display()));
    }
    command.args([image(), "sh", "-c", script]);
    command.output().unwrap()
}

/// The image IDs a container run printed (`sha256:…` lines), in order; fails on a failed run.
fn ids(output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the container's builds failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("isolation: chroot"),
        "chroot isolation was chosen by itself: {stderr}"
    );
    stdout
        .lines()
        .filter(|l| l.starts_with("sha256:"))
        .map(str::to_string)
        .collect()
}

/// A root namespaces-mode build on the host, with `SOURCE_DATE_EPOCH`; its image ID.
fn host_build(env: &TestEnv, args: &[&str]) -> String {
    let mut command = env.strata(&[&["build", "-q"], args].concat());
    command
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("STRATA_ISOLATION", "namespaces");
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "host build {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The examples (base and espy, with busybox in the base's context) and a 40-RUN Dockerfile.
fn contexts(env: &TestEnv) -> PathBuf {
    let root = env.path("contexts");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = Command::new("cp")
        .arg("-a")
        .arg(repo.join("examples"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(copy.success());
    fs::copy("/bin/busybox", root.join("base/busybox")).unwrap();
    let mut runs = String::from("FROM strata-busybox:latest\n");
    for i in 1..=40 {
        runs.push_str(&format!("RUN echo step {i} > /step-{i}\n"));
    }
    fs::create_dir_all(root.join("runs")).unwrap();
    fs::write(root.join("runs/Dockerfile"), runs).unwrap();
    root
}

#[test]
fn espy_and_forty_runs_in_an_unprivileged_container_give_the_root_builds_ids() {
    if !prerequisites() {
        return;
    }
    let env = TestEnv::new();
    let ctx = contexts(&env);
    let path = |name: &str| ctx.join(name).to_str().unwrap().to_string();
    let expected = vec![
        host_build(&env, &["-t", "strata-busybox:latest", &path("base")]),
        host_build(&env, &["-t", "espy-docker", &path("espy")]),
        host_build(&env, &["-t", "runs", &path("runs")]),
    ];
    let output = in_container(
        &[(&ctx, "/ctx")],
        "set -e; strata --root /store build -q -t strata-busybox:latest /ctx/base; \
         strata --root /store build -q -t espy-docker /ctx/espy; \
         strata --root /store build -q -t runs /ctx/runs",
    );
    assert_eq!(ids(&output), expected);
}

#[test]
fn debian_apt_get_install_in_an_unprivileged_container_gives_the_root_builds_id() {
    if !prerequisites() {
        return;
    }
    let Some(debian) = debian_rootfs_tar() else {
        return;
    };
    let env = TestEnv::new();
    env.ok(&["import", debian.to_str().unwrap(), "debian:bookworm"]);
    // The same base on both sides: an import's config carries its time.
    let base = env.path("debian.tar");
    env.ok(&["save", "debian:bookworm", "-o", base.to_str().unwrap()]);
    // apt's logs and caches carry the time of the run: without them, the step is reproducible.
    let ctx = env.write_files(
        "apt",
        &[(
            "Dockerfile",
            "FROM debian:bookworm\n\
             RUN apt-get update && apt-get install -y --no-install-recommends hello \\\n \
             && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log\n\
             RUN hello\n",
        )],
    );
    let expected = host_build(&env, &["-t", "apt", ctx.to_str().unwrap()]);
    let output = in_container(
        &[(&base, "/base.tar"), (&ctx, "/ctx")],
        "set -e; strata --root /store load -i /base.tar >/dev/null; \
         strata --root /store build -q -t apt /ctx",
    );
    assert_eq!(ids(&output), vec![expected]);
}

#[test]
fn a_cache_exported_by_the_root_build_serves_every_step_in_the_container() {
    if !prerequisites() {
        return;
    }
    let env = TestEnv::new();
    let ctx = contexts(&env);
    let path = |name: &str| ctx.join(name).to_str().unwrap().to_string();
    let cache = env.path("cache");
    let base_id = host_build(&env, &["-t", "strata-busybox:latest", &path("base")]);
    let runs_id = host_build(
        &env,
        &[
            "-t",
            "runs",
            "--cache-to",
            &format!("type=local,dest={},mode=max", cache.display()),
            &path("runs"),
        ],
    );
    let output = in_container(
        &[(&ctx, "/ctx"), (&cache, "/cache")],
        "set -e; strata --root /store build -q -t strata-busybox:latest /ctx/base; \
         strata --root /store build --progress plain --iidfile /tmp/iid \
         --cache-from type=local,src=/cache -t runs /ctx/runs; cat /tmp/iid; echo",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(ids(&output), vec![base_id, runs_id]);
    assert_eq!(
        stderr.matches("CACHED").count(),
        40,
        "every RUN came from the cache:\n{stderr}"
    );
}
