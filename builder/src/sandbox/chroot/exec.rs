//! Starting the command chrooted into the working root, and its forked side. The rules of
//! `child.rs` hold here (after `fork` in a threaded process: raw, async-signal-safe syscalls
//! on data prepared before the fork, nothing that allocates).
//!
//! No namespace is made — the environment allows none — so the command is an ordinary child:
//! a middle process that is a child subreaper (`PR_SET_CHILD_SUBREAPER`) runs it, and when it
//! ends, kills whatever it left running (daemons a package's scripts start, which would
//! otherwise go on writing into the working root that the next step reuses), found as the
//! middle process's children in `/proc/thread-self/children`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::super::child::{check, end_as};
use super::super::confine::{close_inherited_fds, drop_capabilities, install_seccomp, switch_user};
use super::super::seccomp::{self, Profile};
use super::super::{RunRequest, Security};
use crate::error::{Error, Result};
use crate::users::Identity;

/// Everything the forked side needs, as C strings and numbers.
pub struct Plan {
    root: CString,
    cwd_prefixes: Vec<CString>,
    cwd: CString,
    pub identity: Identity,
    insecure: bool,
    seccomp: Option<&'static Profile>,
    parent_pid: libc::pid_t,
    pub argv: Vec<String>,
    env: Vec<(String, String)>,
}

fn c(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::BadSource {
        source_path: String::from_utf8_lossy(bytes).into_owned(),
        reason: "contains a NUL byte".into(),
    })
}

impl Plan {
    /// The plan for `request` in the working root `root`, as `identity`.
    pub fn new(request: &RunRequest<'_>, root: &Path, identity: Identity) -> Result<Plan> {
        let cwd = if request.cwd.is_empty() {
            "/"
        } else {
            request.cwd
        };
        let mut cwd_prefixes = Vec::new();
        let mut prefix = String::new();
        for part in cwd.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            cwd_prefixes.push(c(prefix.as_bytes())?);
        }
        let mut env = request.env.to_vec();
        if !env.iter().any(|(k, _)| k == "HOME") {
            env.push((
                "HOME".into(),
                identity.home.clone().unwrap_or_else(|| "/".into()),
            ));
        }
        let insecure = request.security == Security::Insecure;
        Ok(Plan {
            root: c(root.as_os_str().as_bytes())?,
            cwd_prefixes,
            cwd: c(cwd.as_bytes())?,
            identity,
            insecure,
            seccomp: if insecure {
                None
            } else {
                Some(seccomp::docker_default()?)
            },
            // SAFETY: getpid has no preconditions.
            parent_pid: unsafe { libc::getpid() },
            argv: request.argv.to_vec(),
            env,
        })
    }
}

/// The setup steps; the number is what the child reports on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Start = 1,
    Fork,
    Chroot,
    Workdir,
    Capabilities,
    User,
    CloseFds,
    Seccomp,
}

impl Step {
    const ALL: [Step; 8] = [
        Step::Start,
        Step::Fork,
        Step::Chroot,
        Step::Workdir,
        Step::Capabilities,
        Step::User,
        Step::CloseFds,
        Step::Seccomp,
    ];

    fn describe(self) -> &'static str {
        match self {
            Step::Start => "starting the command's process",
            Step::Fork => "forking the command",
            Step::Chroot => "entering the working root (chroot)",
            Step::Workdir => "entering the working directory",
            Step::Capabilities => "dropping capabilities",
            Step::User => "switching to the step's user",
            Step::CloseFds => "closing inherited file descriptors",
            Step::Seccomp => "installing the seccomp filter",
        }
    }
}

/// Runs `f`; on failure reports `step` on `status_fd`.
fn step(status_fd: RawFd, step: Step, f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    f().inspect_err(|_| {
        let byte = [step as u8];
        // SAFETY: a one-byte write from a stack buffer.
        unsafe {
            libc::write(status_fd, byte.as_ptr().cast(), 1);
        }
    })
}

/// Forks the middle process, which forks the command; returns once the command runs.
pub fn spawn(plan: &Arc<Plan>, stdio: [Stdio; 3]) -> Result<std::process::Child> {
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
    let (status_reader, status_writer) = io::pipe().map_err(|source| Error::Sandbox {
        what: "creating the status pipe".into(),
        source,
    })?;
    let status_fd = status_writer.as_raw_fd();
    let shared = Arc::clone(plan);
    // SAFETY: the closure runs in the forked child and makes only async-signal-safe syscalls
    // on data prepared before the fork.
    unsafe {
        command.pre_exec(move || setup(&shared, status_fd));
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

/// The step the child reported before failing (already in the pipe when `spawn` fails).
fn failed_step(reader: &io::PipeReader) -> Option<Step> {
    let fd = reader.as_raw_fd();
    let mut byte = [0u8; 1];
    // SAFETY: fcntl and read on a pipe fd we own, into a one-byte stack buffer.
    let n = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        libc::read(fd, byte.as_mut_ptr().cast(), 1)
    };
    (n == 1)
        .then(|| Step::ALL.iter().copied().find(|s| *s as u8 == byte[0]))
        .flatten()
}

/// The forked side (`pre_exec`); returns so that `Command` execs the command.
fn setup(plan: &Plan, status_fd: RawFd) -> io::Result<()> {
    // SAFETY: (whole function) raw syscalls on NUL-terminated strings and plain values prepared
    // before the fork.
    unsafe {
        step(status_fd, Step::Start, || {
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
            if libc::getppid() != plan.parent_pid {
                libc::_exit(137);
            }
            check(libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
        })?;
        let pid = libc::fork();
        if pid < 0 {
            return step(status_fd, Step::Fork, || Err(io::Error::last_os_error()));
        }
        if pid > 0 {
            middle_process(pid);
        }
        step(status_fd, Step::Fork, || {
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))
        })?;
        step(status_fd, Step::Chroot, || {
            check(libc::chroot(plan.root.as_ptr()))?;
            check(libc::chdir(c"/".as_ptr()))
        })?;
        step(status_fd, Step::Workdir, || {
            // After the chroot, so symlinks in the path resolve inside the image.
            for prefix in &plan.cwd_prefixes {
                libc::mkdir(prefix.as_ptr(), 0o755);
            }
            check(libc::chdir(plan.cwd.as_ptr()))
        })?;
        if !plan.insecure {
            step(status_fd, Step::Capabilities, || drop_capabilities())?;
        }
        step(status_fd, Step::User, || {
            switch_user(&plan.identity, plan.insecure, true)
        })?;
        step(status_fd, Step::CloseFds, || close_inherited_fds())?;
        if let Some(profile) = plan.seccomp {
            step(status_fd, Step::Seccomp, || install_seccomp(profile))?;
        }
    }
    Ok(())
}

/// Waits for the command, kills what it left running, and ends the way the command ended.
unsafe fn middle_process(pid: libc::pid_t) -> ! {
    // SAFETY: raw syscalls; this process never returns into Rust code that could allocate.
    unsafe {
        // Everything but stdio closes, std's exec-error pipe among them (see `child.rs`).
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        let mut status: libc::c_int = 0;
        loop {
            let rc = libc::waitpid(pid, &mut status, 0);
            if rc == pid {
                break;
            }
            if rc < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(126);
            }
        }
        kill_leftovers();
        end_as(status)
    }
}

/// Kills and reaps every remaining child (orphans re-parent to this subreaper) until none is
/// left. A child's pid cannot be reused before it is reaped, so each kill reaches the process
/// that was listed.
unsafe fn kill_leftovers() {
    // SAFETY: open/read/close on a stack buffer, kill and waitpid on our own children.
    unsafe {
        let mut status: libc::c_int = 0;
        loop {
            while libc::waitpid(-1, &mut status, libc::WNOHANG) > 0 {}
            let fd = libc::open(
                c"/proc/thread-self/children".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return;
            }
            let mut buf = [0u8; 4096];
            let mut len = 0usize;
            while len < buf.len() {
                let n = libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len);
                if n <= 0 {
                    break;
                }
                len += n as usize;
            }
            libc::close(fd);
            let mut killed = 0;
            let mut pid: libc::pid_t = 0;
            let mut digits = 0;
            for &byte in &buf[..len] {
                if byte.is_ascii_digit() {
                    pid = pid * 10 + libc::pid_t::from(byte - b'0');
                    digits += 1;
                } else {
                    // Only whole numbers (each is followed by a space).
                    if digits > 0 && pid > 0 {
                        libc::kill(pid, libc::SIGKILL);
                        killed += 1;
                    }
                    pid = 0;
                    digits = 0;
                }
            }
            if killed == 0 {
                return;
            }
            libc::waitpid(-1, &mut status, 0);
        }
    }
}
