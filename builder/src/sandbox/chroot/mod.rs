//! The chroot isolation mode: RUN where no namespace and no mount may be made — an
//! unprivileged container or Kubernetes pod (docker's default capabilities and seccomp
//! profile), running as root inside it.
//!
//! # How a step runs
//!
//! 1. A working root — the stage's filesystem as a plain directory — is taken from the pool
//!    and brought up to the step's snapshots, or made from them (`root.rs`).
//! 2. `/dev`, `/proc`, `/sys`, the `/etc` files and the `RUN --mount`s are put in place
//!    without mounting (`provide.rs`).
//! 3. A picture of the root is taken (`scan.rs`), the command runs chrooted into it with the
//!    namespaces sandbox's user, working directory, environment, capability set, seccomp
//!    filter and closed descriptors (`exec.rs`) while inotify notes the files it opens for
//!    writing (`watch.rs`), and a second picture is taken.
//! 4. The difference is written into the step's upper dir in overlayfs's own form
//!    (`diff.rs`), so the layer writer makes the same bytes as for the namespaces sandbox: the
//!    same inputs give the same image ID in either mode, and caches move between them.
//! 5. The mounts are undone, and the root goes back to the pool for the stage's next step.
//!
//! # What differs from the namespaces sandbox
//!
//! - The command shares the pod's network, hostname, pids and IPC: there is no namespace to
//!   put it in. `--network=none` cannot be honoured (a warning says so; buildah's chroot
//!   isolation ignores it silently).
//! - No `/proc` or `/sys` contents (they need a mount); `/dev` holds docker's default nodes.
//! - `RUN --mount`s are copies: a bind mount's writes are dropped as usual, a cache mount's
//!   contents are copied back after the step, a tmpfs has no size limit.
//! - It is no security boundary against a hostile Dockerfile: a root process can leave a
//!   chroot. The pod is the boundary; give it nothing the build must not reach.

mod diff;
mod entry;
mod exec;
mod provide;
mod root;
mod scan;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use super::native::{exit_code, pump};
use super::{Executor, Network, OutputSink, RunRequest};
use crate::error::{Error, Result};
use crate::progress::Stream;
use crate::users::{Identity, UserDb};
use root::WorkingRoot;
use strata_oci::LayerStack;

/// Working roots kept between steps: one per stage being built at once is what reuse needs.
const POOL_SIZE: usize = 4;

/// Where the executor says what the user should know.
type Warn<'w> = dyn Fn(&str) + Send + Sync + 'w;

/// Runs RUN steps chrooted into a working root per stage (see the module docs). `scratch` is
/// a directory on the store's filesystem for the working roots (a store's `tmp/`, emptied when
/// the store opens).
pub struct ChrootExecutor<'w> {
    scratch: PathBuf,
    pool: Mutex<Vec<WorkingRoot>>,
    warn: Option<Box<Warn<'w>>>,
    warned: Mutex<HashSet<String>>,
}

impl<'w> ChrootExecutor<'w> {
    /// An executor keeping its working roots under `scratch`.
    pub fn new(scratch: impl Into<PathBuf>) -> Self {
        ChrootExecutor {
            scratch: scratch.into(),
            pool: Mutex::new(Vec::new()),
            warn: None,
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Where to say what the user should know (each message once per build).
    pub fn on_warning(mut self, warn: impl Fn(&str) + Send + Sync + 'w) -> Self {
        self.warn = Some(Box::new(warn));
        self
    }

    fn warn_once(&self, message: &str) {
        let first = self
            .warned
            .lock()
            .expect("warnings lock")
            .insert(message.to_string());
        if let (true, Some(warn)) = (first, &self.warn) {
            warn(message);
        }
    }

    /// A working root holding `lowers`: the pooled one that needs the fewest layers applied,
    /// or a new one.
    fn take_root(&self, lowers: &[PathBuf]) -> Result<WorkingRoot> {
        let found = {
            let mut pool = self.pool.lock().expect("pool lock");
            let best = pool
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.distance(lowers).map(|d| (d, i)))
                .min();
            best.map(|(distance, index)| (distance, pool.remove(index)))
        };
        match found {
            Some((distance, mut working)) => {
                working.advance(lowers, distance)?;
                Ok(working)
            }
            None => {
                std::fs::create_dir_all(&self.scratch).map_err(entry::io(&self.scratch))?;
                WorkingRoot::materialise(&self.scratch, lowers)
            }
        }
    }

    fn put_back(&self, working: WorkingRoot) {
        let mut pool = self.pool.lock().expect("pool lock");
        pool.push(working);
        if pool.len() > POOL_SIZE {
            pool.remove(0);
        }
    }

    /// Runs the step in `working`; returns whether it changed anything.
    fn run_in(
        &self,
        working: &WorkingRoot,
        request: &RunRequest<'_>,
        output: OutputSink<'_>,
    ) -> Result<bool> {
        let root = working.root();
        let resolv_conf = match request.network {
            Network::None => Vec::new(),
            _ => std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        };
        let (mut ignore, warnings) = provide::provide(&root, &resolv_conf)?;
        for warning in warnings {
            self.warn_once(&warning);
        }
        let placed = provide::place_mounts(&root, &working.stash(), request.mounts, &mut ignore)?;
        let outcome = (|| {
            let identity = identity(request.user, &root)?;
            let plan = Arc::new(exec::Plan::new(request, &root, identity)?);
            let before = scan::scan(&root, &ignore)?;
            before.wait_for_clock();
            let warn = |message: &str| self.warn_once(message);
            let (ran, touched) =
                watch::during(&root, &before, &warn, || run_command(&plan, output));
            ran?;
            let after = scan::scan(&root, &ignore)?;
            diff::write_changes(&root, &before, &after, &touched, request.upper)
        })();
        // Even after a failed command: a cache mount keeps what it wrote.
        let removed = provide::remove_mounts(&root, placed);
        let changed = outcome?;
        removed?;
        Ok(changed)
    }
}

impl Executor for ChrootExecutor<'_> {
    fn run(&self, request: &RunRequest<'_>, output: OutputSink<'_>) -> Result<()> {
        if request.network == Network::None {
            self.warn_once(
                "RUN --network=none: chroot isolation has no network namespace of its own, the \
                 command shares the pod's network",
            );
        }
        let mut working = self.take_root(request.lowers)?;
        // A failed step leaves the root in a state no snapshot describes: it goes.
        let changed = self.run_in(&working, request, output)?;
        working.ran(request.lowers, request.upper, changed)?;
        self.put_back(working);
        Ok(())
    }
}

/// The step's user, resolved through the working root's `/etc/passwd` and `/etc/group`.
fn identity(user: &str, root: &std::path::Path) -> Result<Identity> {
    if user.is_empty() {
        return Ok(Identity {
            home: Some("/root".into()),
            ..Identity::default()
        });
    }
    let view = LayerStack::new(vec![root.to_path_buf()]);
    UserDb::load(|path| view.read_file(path)).resolve_user(user)
}

/// Runs the command, streaming its output; a non-zero exit is [`Error::CommandFailed`].
fn run_command(plan: &Arc<exec::Plan>, output: OutputSink<'_>) -> Result<()> {
    let stdio = [Stdio::null(), Stdio::piped(), Stdio::piped()];
    let mut child = exec::spawn(plan, stdio)?;
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
    use std::os::unix::process::ExitStatusExt;
    Err(Error::CommandFailed {
        argv: plan.argv.clone(),
        code: exit_code(status),
        signal: status.signal(),
    })
}

/// Why this environment needs chroot isolation, if it does: running as root where namespaces
/// or mounts are refused (an unprivileged container: docker's default seccomp profile refuses
/// `unshare`, and CAP_SYS_ADMIN is not granted), or where the kernel has no overlayfs.
pub fn required() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    if !namespaces_allowed() {
        return Some("new namespaces and mounts are refused here, as in an unprivileged container");
    }
    let overlay = std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("overlay"));
    (!overlay).then_some("the kernel has no overlayfs")
}

/// Whether a child may make the namespaces sandbox's namespaces and change its mounts.
fn namespaces_allowed() -> bool {
    // SAFETY: the forked child makes only raw syscalls and `_exit`s; the parent waits for it.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let flags =
                libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
            if libc::unshare(flags) != 0 {
                libc::_exit(1);
            }
            let private = libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            );
            libc::_exit(if private == 0 { 0 } else { 2 });
        }
        if pid < 0 {
            return false;
        }
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                return false;
            }
        }
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}
