//! Image exchange proven against the real tools: docker (load/run/save), skopeo, umoci; and
//! the image commands (`images`, `tag`, `rmi`, `inspect`, `history`) against docker's habits.
//! Each test skips with a reason when a tool is missing; CI installs them all.

mod docker;
mod hostile;
mod oci_tools;
mod views;

use std::process::Command;

use crate::util::{env_with_imported_busybox, TestEnv};

/// A store with `bb:1` imported from a busybox rootfs tarball (`CMD ["sh"]`, `PATH=/bin`).
pub fn env_with_busybox() -> Option<TestEnv> {
    env_with_imported_busybox("bb:1", "CMD [\"sh\"]")
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
