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
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use super::child::{self, Step};
use super::network::BuildNetwork;
use super::prepare::{self, extra_mounts, plan, Plan, RunNetwork};
use super::session;
use super::{stubs, Executor, Network, OutputSink, RunRequest};
use crate::error::{Error, Result};
use crate::progress::Stream;
use strata_oci::LayerStack;

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
                        if let Some(why) = network.why_no_outbound() {
                            warn(&format!(
                                "RUN steps get an isolated network without outside access: \
                                 {why}; or build with --network host"
                            ));
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
        let (plan, _run_dir) = self.prepare(request, prepare::HOSTNAME)?;
        let stdio = [Stdio::null(), Stdio::piped(), Stdio::piped()];
        let mut child = spawn(&plan, stdio)?;
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
            let lowers = LayerStack::new(request.lowers.to_vec());
            return super::opaque::drop_redundant_opaque(request.upper, &lowers);
        }
        Err(Error::CommandFailed {
            argv: plan.argv.clone(),
            code: exit_code(status),
            signal: status.signal(),
        })
    }
}

impl NativeSandbox<'_> {
    /// Resolves mounts, makes the init layer and the plan; the returned dir holds the run's
    /// files and must live as long as the command.
    fn prepare(
        &self,
        request: &RunRequest<'_>,
        hostname: &str,
    ) -> Result<(Arc<Plan>, tempfile::TempDir)> {
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
        let mut plan = plan(
            request,
            &image,
            &mounts,
            &extra,
            run_dir.path(),
            network,
            hostname,
        )?;
        plan.legacy_only = self.legacy_mount;
        Ok((Arc::new(plan), run_dir))
    }

    /// Starts a container for `strata run`: the same sandbox and hardening as a RUN step,
    /// with the caller's stdio (pipes, or a pty's slave), in a session of its own, and
    /// returns at once. The command has been exec'd when this returns: a missing or
    /// unexecutable command is [`Error::Exec`].
    pub fn start(&self, request: &RunRequest<'_>, session: Session) -> Result<Started> {
        let (plan, run_dir) = self.prepare(request, &session.hostname)?;
        let mut plan = Arc::into_inner(plan).expect("not shared yet");
        plan.own_session = true;
        // The console's master comes back over a socket pair (both ends close on exec).
        let console = if session.tty {
            let mut fds = [0 as RawFd; 2];
            // SAFETY: socketpair into a stack array.
            let rc = unsafe {
                libc::socketpair(
                    libc::AF_UNIX,
                    libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                    0,
                    fds.as_mut_ptr(),
                )
            };
            if rc != 0 {
                return Err(Error::Sandbox {
                    what: "creating the console socket".into(),
                    source: io::Error::last_os_error(),
                });
            }
            // SAFETY: socketpair made both; each is owned once.
            let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            plan.console_socket = Some(ends.1.as_raw_fd());
            plan.console_size = session.tty_size;
            Some(ends)
        } else {
            None
        };
        plan.read_only_root = session.read_only;
        // docker's containers have their primary group among the supplementary ones too
        // (`id` shows it in `groups=`), unlike BuildKit's RUN steps.
        if !plan.identity.additional_gids.contains(&plan.identity.gid) {
            plan.identity.additional_gids.push(plan.identity.gid);
        }
        let plan = Arc::new(plan);
        let child = spawn(&plan, session.stdio)?;
        let console = match console {
            Some((ours, theirs)) => {
                drop(theirs);
                Some(receive_fd(&ours).map_err(|source| Error::Sandbox {
                    what: "receiving the container's console".into(),
                    source,
                })?)
            }
            None => None,
        };
        Ok(Started {
            child,
            console,
            _run_dir: run_dir,
        })
    }
}

/// What a `strata run` container differs in from a RUN step.
pub struct Session {
    /// The command's stdin, stdout and stderr.
    pub stdio: [Stdio; 3],
    /// `-t`: a pty made in the container (stdio ignored), its master in [`Started::console`].
    pub tty: bool,
    /// The pty's first window size.
    pub tty_size: Option<libc::winsize>,
    /// The container's hostname (`/etc/hostname`, `/etc/hosts`, `uname -n`).
    pub hostname: String,
    /// Remount the root read-only once set up (`--read-only`).
    pub read_only: bool,
}

/// A running container (see [`NativeSandbox::start`]).
#[derive(Debug)]
pub struct Started {
    /// The process strata forks (the one that waits for pid 1 and ends as it ends); its
    /// piped stdio handles are the container's.
    pub child: std::process::Child,
    /// With [`Session::tty`]: the master side of the container's terminal.
    pub console: Option<OwnedFd>,
    _run_dir: tempfile::TempDir,
}

/// Receives one descriptor sent with SCM_RIGHTS (see `child::console`).
fn receive_fd(socket: &OwnedFd) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u8; 64];
    // SAFETY: recvmsg into stack buffers; the cmsg macros walk the control buffer we own.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        if libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) < 0 {
            return Err(io::Error::last_os_error());
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::other("no descriptor on the console socket"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Call before starting anything (the store's threads included) in a process that will
/// [`Started::forward_signals`]: the signals it forwards wait until then.
pub fn hold_forwarded_signals() {
    session::block_forwarded_signals();
}

impl Started {
    /// From now on this process passes SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 and
    /// SIGALRM on to the container's pid 1 (docker's sig-proxy); those held since
    /// [`hold_forwarded_signals`] go now. Call from the thread that held them.
    pub fn forward_signals(&self) {
        // SAFETY: installs async-signal-safe handlers; the pid is a live child of ours.
        unsafe { session::forward_signals_to(self.child.id() as libc::pid_t) }
    }

    /// Waits for the command; its exit code, or 128+N when signal N killed it.
    pub fn wait(mut self) -> Result<i32> {
        let status = self.child.wait().map_err(|source| Error::Sandbox {
            what: "waiting for the command".into(),
            source,
        });
        session::stop_forwarding();
        Ok(exit_code(status?))
    }
}

pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => -1,
    }
}

/// Forks the sandbox's first child, which sets up and execs the command (see the module
/// docs); returns once the command runs.
fn spawn(plan: &Arc<Plan>, stdio: [Stdio; 3]) -> Result<std::process::Child> {
    let Some(program) = plan.argv.first() else {
        return Err(Error::Sandbox {
            what: "starting the command".into(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let [stdin, stdout, stderr] = stdio;
    let mut command = Command::new(program);
    command
        .args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr);
    // Both ends close on exec; the child writes the number of a failed setup step into it.
    let (status_reader, status_writer) = io::pipe().map_err(|source| Error::Sandbox {
        what: "creating the status pipe".into(),
        source,
    })?;
    let status_fd: RawFd = status_writer.as_raw_fd();
    let shared = Arc::clone(plan);
    // SAFETY: the closure runs in the forked child and makes only async-signal-safe syscalls on
    // data prepared before the fork (see the module docs and `child.rs`).
    unsafe {
        command.pre_exec(move || child::setup(&shared, status_fd));
    }
    let spawned = command.spawn();
    drop(status_writer);
    spawned.map_err(|source| match failed_step(&status_reader) {
        Some(step) => Error::Sandbox {
            what: format!("{} for `{program}`", step.describe()),
            source,
        },
        None => Error::Exec {
            program: program.clone(),
            source,
        },
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

pub(super) fn pump(mut pipe: impl Read, stream: Stream, output: OutputSink<'_>) {
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
