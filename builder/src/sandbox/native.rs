//! The native sandbox: namespaces, an overlay root and `pivot_root`, with no runtime to install.
//!
//! # How it starts, and why this way
//!
//! strata is multi-threaded (rayon runs independent steps at once), and after `fork` in a
//! threaded process only async-signal-safe calls are allowed: another thread may have held the
//! allocator's lock when the process was copied, so a `malloc` in the child can deadlock
//! forever. A re-exec'd helper binary would avoid that too, but costs an exec and a binary to
//! find (tests and benches are other binaries). Instead everything the child needs is computed
//! first (`prepare.rs`: C strings, ids, option strings, the init layer), and
//! `std::process::Command`'s `pre_exec` hook — which runs in the forked child just before
//! `exec` — does only raw syscalls on that data (`child.rs`):
//!
//! 1. `unshare` mount, pid, uts, ipc (and net for `--network none`) namespaces;
//! 2. `fork` again, because a new pid namespace applies to children: the grandchild is pid 1.
//!    The middle process closes every fd but stdio (so `Command::spawn` sees the exec-error
//!    pipe close once pid 1 execs or fails), waits for pid 1 and ends the way it ended (exit
//!    code, or the same signal);
//! 3. pid 1 mounts the overlay (`fsopen`/`fsconfig` with one `lowerdir+` per layer, so
//!    hundreds of layers never hit the one-page mount-option limit; the classic option string,
//!    with short relative names for long chains, on kernels before 6.8), `/proc`, a minimal
//!    `/dev`, read-only `/sys`, masks docker's masked paths and write-protects its read-only
//!    ones (`/proc/sys`, `/proc/sysrq-trigger`…: the command is real root, so host-wide knobs
//!    must be out of reach), binds `/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname`,
//!    `pivot_root`s into the overlay, creates and enters the working directory, drops
//!    capabilities, sets `no_new_privs`, switches user, and returns so that `Command` execs the
//!    command. A failing step writes its number to a status pipe, so errors say what failed.
//!
//! # Nothing left behind
//!
//! Both children die with their parent (`PR_SET_PDEATHSIG`, armed before anything else and
//! checked against a parent that died first; it fires when the forking *thread* ends, and
//! [`Executor::run`] waits on that same thread, so never early); when pid 1 dies the kernel
//! kills the rest of its pid namespace. Everything mounted lives only in the child's mount namespace, which dies with
//! its last process: Ctrl-C or `kill -9` of a build leaves no mounts and no processes. The
//! per-run directory lives under the store's `tmp/`, which the store empties on open.
//!
//! # Limits
//!
//! overlayfs stacks at most 500 lower dirs (`OVL_MAX_STACK`): an image deeper than that (plus
//! the init layer) is refused with a clear error instead of the kernel's `EINVAL`. docker's
//! overlay2 driver stops at 125 layers, so real images are far below it.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use super::child::{self, Step};
use super::network::BuildNetwork;
use super::prepare::{extra_mounts, plan, Plan, RunNetwork};
use super::{stubs, Executor, Network, OutputSink, RunRequest};
use crate::error::{Error, Result};
use crate::progress::Stream;
use crate::rootfs::LayerStack;

/// overlayfs's maximum number of lower dirs (`OVL_MAX_STACK` in the kernel).
pub const MAX_LOWER_DIRS: usize = 500;

/// The sandbox. `scratch` is a directory for per-run mount points and files (a store's `tmp/`,
/// which the store empties on open: what a killed build left there goes on the next run).
///
/// One sandbox serves one build: the build's network namespace is made on the first RUN that
/// uses the default network and shared by every later one (see `network.rs`).
pub struct NativeSandbox<'w> {
    scratch: PathBuf,
    legacy_mount: bool,
    network: OnceLock<std::result::Result<BuildNetwork, String>>,
    warn: Option<Box<Warn<'w>>>,
}

/// Where the sandbox says what the user should know.
type Warn<'w> = dyn Fn(&str) + Send + Sync + 'w;

impl<'w> NativeSandbox<'w> {
    /// A sandbox keeping its per-run files under `scratch`.
    pub fn new(scratch: impl Into<PathBuf>) -> Self {
        NativeSandbox {
            scratch: scratch.into(),
            legacy_mount: false,
            network: OnceLock::new(),
            warn: None,
        }
    }

    /// Where to say what the user should know (the build's network has no way out).
    pub fn on_warning(mut self, warn: impl Fn(&str) + Send + Sync + 'w) -> Self {
        self.warn = Some(Box::new(warn));
        self
    }

    /// The network a run joins: the host's, a fresh one, or the build's own.
    fn run_network(&self, network: Network) -> Result<RunNetwork> {
        match network {
            Network::Host => Ok(RunNetwork {
                netns: None,
                resolv_conf: std::fs::read("/etc/resolv.conf").unwrap_or_default(),
            }),
            Network::None => Ok(RunNetwork {
                netns: None,
                resolv_conf: Vec::new(),
            }),
            Network::Sandbox => {
                let started = self.network.get_or_init(|| {
                    let log = self
                        .scratch
                        .join(format!("slirp4netns-{}.log", std::process::id()));
                    let started = BuildNetwork::start(&log);
                    if let (Ok(network), Some(warn)) = (&started, &self.warn) {
                        if !network.has_outbound() {
                            warn(
                                "slirp4netns not found: RUN steps get an isolated network \
                                  without outside access (apt-get install slirp4netns, or \
                                  build with --network host)",
                            );
                        }
                    }
                    started.map_err(|e| e.to_string())
                });
                let network = started.as_ref().map_err(|reason| Error::Sandbox {
                    what: "setting up the build's network".into(),
                    source: io::Error::other(reason.clone()),
                })?;
                let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
                Ok(RunNetwork {
                    netns: Some(network.fd()),
                    resolv_conf: network.resolv_conf(&host).into_bytes(),
                })
            }
        }
    }

    /// Always mounts the overlay the pre-6.8 way (an option string), to test that fallback.
    #[cfg(test)]
    pub(crate) fn legacy_mount_only(mut self) -> Self {
        self.legacy_mount = true;
        self
    }
}

impl Executor for NativeSandbox<'_> {
    fn run(&self, request: &RunRequest<'_>, output: OutputSink<'_>) -> Result<()> {
        let run_dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&self.scratch)
            .map_err(|e| Error::Io {
                path: self.scratch.clone(),
                source: e,
            })?;
        let image = LayerStack::new(request.lowers.to_vec());
        let (stubs, extra) = extra_mounts(request, &image, run_dir.path())?;
        let mounts = stubs::init_layer(&image, &run_dir.path().join("init"), &stubs)?;
        let lowers = request.lowers.len() + usize::from(mounts.init.is_some());
        if lowers > MAX_LOWER_DIRS {
            return Err(Error::Sandbox {
                what: format!("mounting an image of {} layers", request.lowers.len()),
                source: io::Error::other(format!(
                    "overlayfs stacks at most {MAX_LOWER_DIRS} lower dirs; squash the base image"
                )),
            });
        }
        let network = self.run_network(request.network)?;
        let mut plan = plan(request, &image, &mounts, &extra, run_dir.path(), network)?;
        plan.legacy_only = self.legacy_mount;
        spawn_and_wait(Arc::new(plan), output)
    }
}

fn spawn_and_wait(plan: Arc<Plan>, output: OutputSink<'_>) -> Result<()> {
    let Some(program) = plan.argv.first() else {
        return Err(Error::Sandbox {
            what: "starting the command".into(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let mut command = Command::new(program);
    command
        .args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Both ends close on exec; the child writes the number of a failed setup step into it.
    let (status_reader, status_writer) = io::pipe().map_err(|source| Error::Sandbox {
        what: "creating the status pipe".into(),
        source,
    })?;
    let status_fd: RawFd = status_writer.as_raw_fd();
    let shared = Arc::clone(&plan);
    // SAFETY: the closure runs in the forked child and makes only async-signal-safe syscalls on
    // data prepared before the fork (see the module docs and `child.rs`).
    unsafe {
        command.pre_exec(move || child::setup(&shared, status_fd));
    }
    let spawned = command.spawn();
    drop(status_writer);
    let mut child = spawned.map_err(|source| Error::Sandbox {
        what: failed_step(&status_reader)
            .map(|step| format!("{} for `{program}`", step.describe()))
            .unwrap_or_else(|| format!("starting `{program}` in the sandbox")),
        source,
    })?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let status = std::thread::scope(|scope| {
        scope.spawn(|| pump(stdout, Stream::Stdout, output));
        scope.spawn(|| pump(stderr, Stream::Stderr, output));
        child.wait()
    })
    .map_err(|source| Error::Sandbox {
        what: "waiting for the command".into(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    let signal = status.signal();
    let code = match (status.code(), signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => -1,
    };
    Err(Error::CommandFailed {
        argv: plan.argv.clone(),
        code,
        signal,
    })
}

/// The step the child reported before failing. The byte is written before the child returns
/// its error to `spawn`, so it is already in the pipe when `spawn` fails: never wait for it
/// (another thread's fork may still hold a copy of the write end).
fn failed_step(reader: &io::PipeReader) -> Option<Step> {
    let fd = reader.as_raw_fd();
    let mut byte = [0u8; 1];
    // SAFETY: fcntl and read on a pipe fd we own, into a one-byte stack buffer.
    let n = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        libc::read(fd, byte.as_mut_ptr().cast(), 1)
    };
    (n == 1).then(|| Step::from_byte(byte[0])).flatten()
}

fn pump(mut pipe: impl Read, stream: Stream, output: OutputSink<'_>) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output(stream, &buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// True when this process can build sandboxes (root, with overlayfs available).
pub fn sandbox_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("overlay"))
}
