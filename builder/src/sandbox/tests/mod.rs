//! Real commands in the real sandbox (root and Debian's busybox-static needed; skipped with a
//! reason otherwise). The base rootfs is built in each test from `/bin/busybox`.

mod diffs;
mod isolation;
mod mounts;
mod run;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;

const APPLETS: [&str; 23] = [
    "sh", "echo", "cat", "id", "hostname", "ps", "rm", "mkdir", "touch", "chmod", "chown", "ls",
    "test", "grep", "true", "false", "sleep", "stat", "mount", "ln", "mv", "pwd", "wc",
];

/// A temp dir with a busybox base layer in `base/`.
struct Fixture {
    dir: tempfile::TempDir,
    base: PathBuf,
}

fn fixture() -> Option<Fixture> {
    if !sandbox_available() {
        crate::skip_test("the sandbox needs root and overlayfs");
        return None;
    }
    if !Path::new("/bin/busybox").is_file() {
        crate::skip_test("/bin/busybox missing (apt-get install busybox-static)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    for sub in ["bin", "etc", "tmp", "old/sub"] {
        fs::create_dir_all(base.join(sub)).unwrap();
    }
    fs::copy("/bin/busybox", base.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        symlink("busybox", base.join("bin").join(applet)).unwrap();
    }
    fs::write(
        base.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        base.join("etc/group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
    )
    .unwrap();
    fs::write(base.join("old/file"), "old").unwrap();
    fs::write(base.join("old/sub/deep"), "deep").unwrap();
    fs::write(base.join("gone"), "bye").unwrap();
    Some(Fixture { dir, base })
}

/// What a run left: its upper dir, its output, its result.
struct Run {
    upper: PathBuf,
    stdout: String,
    stderr: String,
    result: crate::Result<()>,
}

/// One command to run, with the defaults of a plain `RUN` over the base.
struct Step<'a> {
    fixture: &'a Fixture,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    user: String,
    network: Network,
    security: Security,
    cwd: String,
    lowers: Vec<PathBuf>,
    mounts: Vec<ExtraMount>,
    legacy: bool,
}

impl Fixture {
    /// `/bin/sh -c script` over the base layer.
    fn sh(&self, script: &str) -> Step<'_> {
        Step {
            fixture: self,
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![("PATH".into(), "/bin".into())],
            user: String::new(),
            network: Network::Host,
            security: Security::Sandbox,
            cwd: "/".into(),
            lowers: vec![self.base.clone()],
            mounts: Vec::new(),
            legacy: false,
        }
    }

    fn run(&self, script: &str) -> Run {
        self.sh(script).run()
    }

    /// A fresh directory in the fixture.
    fn fresh_dir(&self, prefix: &str) -> PathBuf {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.dir.path())
            .unwrap()
            .keep()
    }
}

impl Step<'_> {
    fn user(mut self, user: &str) -> Self {
        self.user = user.into();
        self
    }

    fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    fn insecure(mut self) -> Self {
        self.security = Security::Insecure;
        self
    }

    fn cwd(mut self, cwd: &str) -> Self {
        self.cwd = cwd.into();
        self
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Layers on top of the base (topmost first).
    fn over(mut self, layers: &[PathBuf]) -> Self {
        let mut lowers = layers.to_vec();
        lowers.append(&mut self.lowers);
        self.lowers = lowers;
        self
    }

    fn mount(mut self, target: &str, source: MountFrom, readonly: bool) -> Self {
        self.mounts.push(ExtraMount {
            target: target.into(),
            source,
            readonly,
        });
        self
    }

    fn legacy_mount(mut self) -> Self {
        self.legacy = true;
        self
    }

    fn run(self) -> Run {
        let mut sandbox = NativeSandbox::new(self.fixture.dir.path());
        if self.legacy {
            sandbox = sandbox.legacy_mount_only();
        }
        self.run_in(&sandbox)
    }

    /// Runs in `sandbox` (one build's sandbox, shared by several runs).
    fn run_in(self, sandbox: &NativeSandbox<'_>) -> Run {
        let upper = self.fixture.fresh_dir("upper");
        let work = self.fixture.fresh_dir("work");
        let request = RunRequest {
            argv: &self.argv,
            env: &self.env,
            cwd: &self.cwd,
            user: &self.user,
            network: self.network,
            security: self.security,
            lowers: &self.lowers,
            upper: &upper,
            work: &work,
            mounts: &self.mounts,
        };
        let stdout = Mutex::new(Vec::new());
        let stderr = Mutex::new(Vec::new());
        let sink = |stream: crate::progress::Stream, data: &[u8]| match stream {
            crate::progress::Stream::Stdout => stdout.lock().unwrap().extend_from_slice(data),
            _ => stderr.lock().unwrap().extend_from_slice(data),
        };
        let result = sandbox.run(&request, &sink);
        Run {
            upper,
            stdout: String::from_utf8(stdout.into_inner().unwrap()).unwrap(),
            stderr: String::from_utf8(stderr.into_inner().unwrap()).unwrap(),
            result,
        }
    }
}

/// The names directly in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Sandbox mounts (under the fixture's dir) still visible to this process.
fn leaked_mounts(f: &Fixture) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(f.dir.path().to_str().unwrap()))
        .map(str::to_string)
        .collect()
}
