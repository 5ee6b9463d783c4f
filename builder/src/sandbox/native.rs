//! The native sandbox: namespaces, an overlay root and `pivot_root`, with no runtime to install.
//!
//! How it starts, and why: strata is multi-threaded (rayon), and after `fork` in a threaded
//! process only async-signal-safe calls are allowed. So everything the child needs is computed
//! first (`prepare.rs`: C strings, ids, option strings), and `std::process::Command`'s
//! `pre_exec` hook — which runs in the forked child just before `exec` — does only raw
//! syscalls:
//!
//! 1. `unshare` mount, pid, uts, ipc (and net for `--network none`) namespaces;
//! 2. `fork` again, because a new pid namespace applies to children: the grandchild is pid 1.
//!    The middle process closes every fd but stdio (so `Command::spawn` sees the exec-error
//!    pipe close), waits for the grandchild and exits with its status;
//! 3. the grandchild mounts the overlay (`fsopen`/`fsconfig` with one `lowerdir+` per layer,
//!    so hundreds of layers never hit the mount-option size limit; the classic option string
//!    as a fallback), `/proc`, a minimal `/dev`, read-only `/sys`, binds `/etc/resolv.conf`,
//!    `/etc/hosts`, `/etc/hostname`, `pivot_root`s into the overlay, creates and enters the
//!    working directory, drops capabilities, sets `no_new_privs`, switches user, and returns
//!    so that `Command` execs the command.
//!
//! Both children die with their parent (`PR_SET_PDEATHSIG`), and everything mounted lives only
//! in the child's mount namespace: a killed build leaves no mounts and no processes behind.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::prepare::{plan, Plan, KEPT_CAPS};
use super::{stubs, Executor, OutputSink, RunRequest};
use crate::error::{Error, Result};
use crate::progress::Stream;
use crate::rootfs::LayerStack;

/// The sandbox. `scratch` is a directory for per-run mount points and files (a store's `tmp/`).
pub struct NativeSandbox {
    scratch: PathBuf,
}

impl NativeSandbox {
    /// A sandbox keeping its per-run files under `scratch`.
    pub fn new(scratch: impl Into<PathBuf>) -> Self {
        NativeSandbox {
            scratch: scratch.into(),
        }
    }
}

impl Executor for NativeSandbox {
    fn run(&self, request: &RunRequest<'_>, output: OutputSink<'_>) -> Result<()> {
        let run_dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&self.scratch)
            .map_err(|e| Error::Io {
                path: self.scratch.clone(),
                source: e,
            })?;
        let empty_lower = run_dir.path().join("empty");
        std::fs::create_dir(&empty_lower).map_err(|e| Error::Io {
            path: empty_lower.clone(),
            source: e,
        })?;
        let image = LayerStack::new(request.lowers.to_vec());
        let init = stubs::init_layer(&image, &run_dir.path().join("init"))?;
        let plan = plan(request, init.as_deref(), run_dir.path(), &empty_lower)?;
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
    let shared = Arc::clone(&plan);
    // SAFETY: the closure runs in the forked child and makes only async-signal-safe syscalls on
    // data prepared before the fork (see the module docs).
    unsafe {
        command.pre_exec(move || child_setup(&shared));
    }
    let mut child = command.spawn().map_err(|source| Error::Sandbox {
        what: format!("starting `{program}` in the sandbox"),
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
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Error::CommandFailed {
            argv: plan.argv.clone(),
            code,
        }),
        None => Err(Error::CommandFailed {
            argv: plan.argv.clone(),
            code: -1,
        }),
    }
}

fn pump(mut pipe: impl Read, stream: Stream, output: OutputSink<'_>) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => output(stream, &buf[..n]),
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn check_long(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Runs in the forked child. Async-signal-safe only: no allocation, no locks.
fn child_setup(plan: &Plan) -> io::Result<()> {
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if plan.network_none {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY (whole function): raw syscalls on pointers to NUL-terminated strings and plain
    // values prepared before the fork.
    unsafe {
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        check(libc::unshare(flags))?;
        let pid = libc::fork();
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid > 0 {
            middle_process(pid);
        }
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        let none = std::ptr::null::<libc::c_char>();
        check(libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        mount_overlay(plan)?;
        ensure_dir(&plan.proc_dir);
        check(libc::mount(
            c"proc".as_ptr(),
            plan.proc_dir.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ))?;
        mount_dev(plan)?;
        ensure_dir(&plan.sys_dir);
        let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if libc::mount(
            c"sysfs".as_ptr(),
            plan.sys_dir.as_ptr(),
            c"sysfs".as_ptr(),
            ro,
            std::ptr::null(),
        ) != 0
        {
            check(libc::mount(
                c"/sys".as_ptr(),
                plan.sys_dir.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                none,
                plan.sys_dir.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REMOUNT | ro,
                std::ptr::null(),
            ))?;
        }
        ensure_dir(&plan.etc_dir);
        for (host, target) in &plan.etc_binds {
            ensure_file(target);
            check(libc::mount(
                host.as_ptr(),
                target.as_ptr(),
                none,
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
        }
        if plan.network_none {
            loopback_up();
        }
        check(libc::sethostname(
            plan.hostname.as_ptr(),
            plan.hostname.as_bytes().len(),
        ))?;
        check(libc::chdir(plan.merged.as_ptr()))?;
        check_long(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        check(libc::chdir(c"/".as_ptr()))?;
        for prefix in &plan.cwd_prefixes {
            libc::mkdir(prefix.as_ptr(), 0o755);
        }
        check(libc::chdir(plan.cwd.as_ptr()))?;
        drop_privileges(plan)?;
    }
    Ok(())
}

/// The middle process: waits for pid 1 of the new namespace and exits with its status.
unsafe fn middle_process(pid: libc::pid_t) -> ! {
    // SAFETY: raw syscalls; this process never returns into Rust code that could allocate.
    unsafe {
        // Close everything but stdio, among it std's exec-error pipe: `spawn` must not wait
        // for this process, which never execs.
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
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        libc::_exit(128 + libc::WTERMSIG(status));
    }
}

unsafe fn mount_overlay(plan: &Plan) -> io::Result<()> {
    // SAFETY: raw syscalls with NUL-terminated strings from the plan.
    unsafe {
        let fd = libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), 1u32) as libc::c_int;
        if fd < 0 {
            return legacy_overlay(plan);
        }
        const SET_STRING: u32 = 1;
        const CMD_CREATE: u32 = 6;
        let set = |key: &CString, value: &CString| {
            check_long(libc::syscall(
                libc::SYS_fsconfig,
                fd,
                SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            ))
        };
        let lower_key = c"lowerdir+";
        let mut ok = true;
        for lower in &plan.lowers {
            if libc::syscall(
                libc::SYS_fsconfig,
                fd,
                SET_STRING,
                lower_key.as_ptr(),
                lower.as_ptr(),
                0,
            ) < 0
            {
                ok = false;
                break;
            }
        }
        if !ok {
            // Kernels before 6.8 have no `lowerdir+`.
            libc::close(fd);
            return legacy_overlay(plan);
        }
        set(&CString::from(c"upperdir"), &plan.upper)?;
        set(&CString::from(c"workdir"), &plan.work)?;
        let off = CString::from(c"off");
        for key in [c"index", c"metacopy", c"redirect_dir"] {
            // Unknown options on an old kernel are not fatal: their defaults are off there.
            let _ = set(&CString::from(key), &off);
        }
        check_long(libc::syscall(
            libc::SYS_fsconfig,
            fd,
            CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        ))?;
        let mfd = check_long(libc::syscall(libc::SYS_fsmount, fd, 1u32, 0u32))? as libc::c_int;
        const MOVE_MOUNT_F_EMPTY_PATH: u32 = 4;
        check_long(libc::syscall(
            libc::SYS_move_mount,
            mfd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            plan.merged.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        ))?;
        libc::close(mfd);
        libc::close(fd);
    }
    Ok(())
}

unsafe fn legacy_overlay(plan: &Plan) -> io::Result<()> {
    // SAFETY: a raw mount with NUL-terminated strings.
    unsafe {
        check(libc::mount(
            c"overlay".as_ptr(),
            plan.merged.as_ptr(),
            c"overlay".as_ptr(),
            0,
            plan.legacy_options.as_ptr().cast(),
        ))
    }
}

unsafe fn mount_dev(plan: &Plan) -> io::Result<()> {
    // SAFETY: raw syscalls with NUL-terminated strings from the plan.
    unsafe {
        ensure_dir(&plan.dev_dir);
        check(libc::mount(
            c"tmpfs".as_ptr(),
            plan.dev_dir.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_STRICTATIME,
            c"mode=755,size=65536k".as_ptr().cast(),
        ))?;
        for (path, major, minor) in &plan.devices {
            check(libc::mknod(
                path.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(*major, *minor),
            ))?;
            libc::chmod(path.as_ptr(), 0o666);
        }
        libc::mkdir(plan.dev_pts.as_ptr(), 0o755);
        check(libc::mount(
            c"devpts".as_ptr(),
            plan.dev_pts.as_ptr(),
            c"devpts".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620".as_ptr().cast(),
        ))?;
        libc::mkdir(plan.dev_shm.as_ptr(), 0o1777);
        check(libc::mount(
            c"shm".as_ptr(),
            plan.dev_shm.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=1777,size=65536k".as_ptr().cast(),
        ))?;
        for (target, link) in &plan.dev_links {
            libc::symlink(target.as_ptr(), link.as_ptr());
        }
    }
    Ok(())
}

unsafe fn ensure_dir(path: &CString) {
    // SAFETY: NUL-terminated path; an existing dir makes mkdir fail harmlessly.
    unsafe {
        libc::mkdir(path.as_ptr(), 0o755);
    }
}

unsafe fn ensure_file(path: &CString) {
    // SAFETY: NUL-terminated path. An existing file is not opened at all: opening a lower
    // file for writing would copy it (and its directory) up into the layer.
    unsafe {
        if libc::access(path.as_ptr(), libc::F_OK) == 0 {
            return;
        }
        let fd = libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        );
        if fd >= 0 {
            libc::close(fd);
        }
    }
}

/// Brings `lo` up in a fresh network namespace.
unsafe fn loopback_up() {
    // SAFETY: a socket and an ioctl on a stack-allocated ifreq.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &mut req);
        }
        libc::close(sock);
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops capabilities outside docker's default set, forbids gaining privileges, switches user.
unsafe fn drop_privileges(plan: &Plan) -> io::Result<()> {
    // SAFETY: prctl/capset/set*id syscalls on stack data.
    unsafe {
        let mut keep = [0u32; 2];
        for cap in KEPT_CAPS {
            keep[(cap / 32) as usize] |= 1 << (cap % 32);
        }
        for cap in 0..64u32 {
            let kept = keep[(cap / 32) as usize] & (1 << (cap % 32)) != 0;
            if !kept && libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 {
                check(libc::prctl(
                    libc::PR_CAPBSET_DROP,
                    cap as libc::c_ulong,
                    0,
                    0,
                    0,
                ))?;
            }
        }
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        let identity = &plan.identity;
        let groups: &[u32] = &identity.additional_gids;
        check(libc::setgroups(groups.len(), groups.as_ptr()))?;
        check(libc::setgid(identity.gid))?;
        check(libc::setuid(identity.uid))?;
        if identity.uid == 0 {
            let header = CapHeader {
                version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
                pid: 0,
            };
            let data = [
                CapData {
                    effective: keep[0],
                    permitted: keep[0],
                    inheritable: 0,
                },
                CapData {
                    effective: keep[1],
                    permitted: keep[1],
                    inheritable: 0,
                },
            ];
            check_long(libc::syscall(libc::SYS_capset, &header, data.as_ptr()))?;
        }
    }
    Ok(())
}

/// True when this process can build sandboxes (root, with overlayfs available).
pub fn sandbox_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("overlay"))
}
