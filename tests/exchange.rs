//! Image exchange proven against the real tools: docker (load/run/save), skopeo, umoci; and
//! the image commands (`images`, `tag`, `rmi`, `inspect`, `history`) against docker's habits.
//! Each test skips with a reason when a tool is missing; CI installs them all.

mod docker;
mod hostile;
mod oci_tools;
mod views;

use std::process::Command;

use crate::util::{is_root, make_busybox_rootfs, skip_unless, tar_dir, TestEnv};

/// A store with `bb:1` imported from a busybox rootfs tarball (`CMD ["sh"]`, `PATH=/bin`).
pub fn env_with_busybox() -> Option<TestEnv> {
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
    let tar = env.path("rootfs.tar");
    tar_dir(&rootfs, &tar);
    env.ok(&[
        "import",
        "--change",
        "ENV PATH=/bin",
        "--change",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "bb:1",
    ]);
    Some(env)
}

/// Runs a tool; returns success and stdout + stderr.
pub fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Runs docker; returns success and stdout + stderr.
pub fn docker(args: &[&str]) -> (bool, String) {
    tool("/usr/bin/docker", args)
}

/// A name no other test (or earlier run) uses in docker's store.
pub fn unique(name: &str) -> String {
    format!("strata-test-{name}-{}", std::process::id())
}

/// Files of a directory tree as `path type mode uid gid size target`, sorted (what two
/// unpackings of one image must agree on).
pub fn listing(root: &std::path::Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg("find . -printf '%p %y %m %U %G %s %l\\n' | sort")
        .current_dir(root)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}
