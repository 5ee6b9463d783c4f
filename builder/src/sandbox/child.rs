//! The sandbox's forked side. Everything here runs between `fork` and `exec` in a copy of a
//! multi-threaded process, where another thread may have held the allocator's lock at the
//! moment of the fork: so only raw, async-signal-safe syscalls on data the parent prepared
//! (`prepare.rs`), no allocation, no locks, no `std::io` buffering, no panics.
//!
//! The steps are numbered ([`Step`]): when one fails, its number is written to the parent's
//! status pipe before the error goes back to `Command::spawn`, so the build can say *what*
//! failed (`mounting the overlay: invalid argument`) and not only the errno.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use super::confine::{close_inherited_fds, drop_capabilities, install_seccomp, switch_user};
use super::prepare::{MountPlanKind, Plan};
use super::session;

/// The setup steps, in order; the number is what the child reports on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    /// `unshare` of the namespaces.
    Namespaces = 1,
    /// The second fork (pid 1 of the new pid namespace).
    Fork,
    /// Making the mount tree private.
    Private,
    /// The overlay root.
    Overlay,
    /// `/proc`.
    Proc,
    /// `/dev`.
    Dev,
    /// `/sys`.
    Sys,
    /// Masking and write-protecting host knobs under `/proc` and `/sys`.
    Masks,
    /// `/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname`.
    Etc,
    /// `RUN --mount`s and heredoc scripts.
    Mounts,
    /// The hostname.
    Hostname,
    /// `pivot_root` into the overlay.
    PivotRoot,
    /// Creating and entering the working directory.
    Workdir,
    /// Dropping capabilities and setting `no_new_privs`.
    Capabilities,
    /// Switching to the step's user.
    User,
    /// Marking every descriptor above stderr close-on-exec.
    CloseFds,
    /// Installing the seccomp filter.
    Seccomp,
    /// Making the pty the controlling terminal (`strata run -t`).
    Terminal,
    /// Remounting the root read-only (`strata run --read-only`).
    ReadOnly,
}

impl Step {
    const ALL: [Step; 19] = [
        Step::Namespaces,
        Step::Fork,
        Step::Private,
        Step::Overlay,
        Step::Proc,
        Step::Dev,
        Step::Sys,
        Step::Masks,
        Step::Etc,
        Step::Mounts,
        Step::Hostname,
        Step::PivotRoot,
        Step::Workdir,
        Step::Capabilities,
        Step::User,
        Step::CloseFds,
        Step::Seccomp,
        Step::Terminal,
        Step::ReadOnly,
    ];

    /// The step a status byte names.
    pub fn from_byte(byte: u8) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u8 == byte)
    }

    /// What the step does, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Namespaces => "creating the namespaces",
            Step::Fork => "starting pid 1 of the sandbox",
            Step::Private => "making the mount tree private",
            Step::Overlay => "mounting the overlay root",
            Step::Proc => "mounting /proc",
            Step::Dev => "populating /dev",
            Step::Sys => "mounting /sys",
            Step::Masks => "masking /proc and /sys paths",
            Step::Etc => "binding /etc/resolv.conf, /etc/hosts and /etc/hostname",
            Step::Mounts => "mounting the RUN --mount filesystems",
            Step::Hostname => "setting the hostname",
            Step::PivotRoot => "entering the root filesystem (pivot_root)",
            Step::Workdir => "entering the working directory",
            Step::Capabilities => "dropping capabilities",
            Step::User => "switching to the step's user",
            Step::CloseFds => "closing inherited file descriptors",
            Step::Seccomp => "installing the seccomp filter",
            Step::Terminal => "making the pty the controlling terminal",
            Step::ReadOnly => "making the root filesystem read-only",
        }
    }
}

/// Runs `f`; on failure reports `step` on `status_fd` and returns the errno as an error.
fn step(status_fd: RawFd, step: Step, f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    f().inspect_err(|_| {
        let byte = [step as u8];
        // SAFETY: a one-byte write from a stack buffer; errno was already captured in the error.
        unsafe {
            libc::write(status_fd, byte.as_ptr().cast(), 1);
        }
    })
}

pub(super) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(super) fn check_long(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

const NONE: *const libc::c_char = std::ptr::null();

/// Runs in the forked child (`pre_exec`); returns so that `Command` execs the command.
pub fn setup(plan: &Plan, status_fd: RawFd) -> io::Result<()> {
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if plan.network_none {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: (whole function) raw syscalls on NUL-terminated strings and plain values prepared
    // before the fork.
    unsafe {
        step(status_fd, Step::Namespaces, || {
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
            // The parent may have died before the death signal was armed.
            if libc::getppid() != plan.parent_pid {
                libc::_exit(137);
            }
            if plan.own_session {
                check(libc::setsid())?;
                // strata holds the signals it forwards blocked while it starts the container
                // (see `block_forwarded_signals`); the mask would outlive exec.
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            }
            if let Some(netns) = plan.netns {
                check(libc::setns(netns, libc::CLONE_NEWNET))?;
            }
            check(libc::unshare(flags))
        })?;
        let pid = libc::fork();
        if pid < 0 {
            return step(status_fd, Step::Fork, || Err(io::Error::last_os_error()));
        }
        if pid > 0 {
            middle_process(pid, plan.own_session);
        }
        step(status_fd, Step::Fork, || {
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))
        })?;
        if plan.own_session {
            // The command starts with every signal at its default, as a container under
            // docker: strata may have been started with SIGINT ignored (a background job of a
            // script), which exec would pass on, and a shell cannot trap what it inherits
            // ignored.
            for signal in 1..32 {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    libc::signal(signal, libc::SIG_DFL);
                }
            }
        }

        step(status_fd, Step::Private, || {
            check(libc::mount(
                NONE,
                c"/".as_ptr(),
                NONE,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))
        })?;
        step(status_fd, Step::Overlay, || mount_overlay(plan))?;
        step(status_fd, Step::Proc, || {
            ensure_dir(plan.proc_dir.as_c_str());
            check(libc::mount(
                c"proc".as_ptr(),
                plan.proc_dir.as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ))
        })?;
        step(status_fd, Step::Dev, || mount_dev(plan))?;
        if let Some(socket) = plan.console_socket {
            step(status_fd, Step::Terminal, || session::console(plan, socket))?;
        }
        step(status_fd, Step::Sys, || mount_sys(plan))?;
        step(status_fd, Step::Masks, || mask_paths(plan))?;
        step(status_fd, Step::Etc, || {
            for (host, target) in &plan.etc_binds {
                ensure_file(target.as_c_str());
                check(libc::mount(
                    host.as_ptr(),
                    target.as_ptr(),
                    NONE,
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
            }
            Ok(())
        })?;
        step(status_fd, Step::Mounts, || extra_mounts(plan))?;
        if plan.network_none {
            loopback_up();
        }
        step(status_fd, Step::Hostname, || {
            check(libc::sethostname(
                plan.hostname.as_ptr(),
                plan.hostname.as_bytes().len(),
            ))
        })?;
        step(status_fd, Step::PivotRoot, || {
            check(libc::chdir(plan.merged.as_ptr()))?;
            // pivot_root(".", ".") stacks the old root on top of the new one; unmounting it
            // (detached) leaves only the overlay visible, with no put_old directory needed.
            check_long(libc::syscall(
                libc::SYS_pivot_root,
                c".".as_ptr(),
                c".".as_ptr(),
            ))?;
            check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
            check(libc::chdir(c"/".as_ptr()))
        })?;
        step(status_fd, Step::Workdir, || {
            // After pivot_root, so symlinks in the path resolve inside the image.
            for prefix in &plan.cwd_prefixes {
                libc::mkdir(prefix.as_ptr(), 0o755);
            }
            check(libc::chdir(plan.cwd.as_ptr()))
        })?;
        if plan.read_only_root {
            step(status_fd, Step::ReadOnly, || session::read_only_root())?;
        }
        if !plan.insecure {
            step(status_fd, Step::Capabilities, || drop_capabilities())?;
        }
        step(status_fd, Step::User, || {
            switch_user(&plan.identity, plan.insecure, plan.setgroups)
        })?;
        step(status_fd, Step::CloseFds, || close_inherited_fds())?;
        if let Some(profile) = plan.seccomp {
            step(status_fd, Step::Seccomp, || install_seccomp(profile))?;
        }
    }
    Ok(())
}

/// The middle process: waits for pid 1 of the new namespace and ends the way it ended; for
/// `strata run` it also passes the signals strata forwards on to pid 1.
///
/// A signal that killed the command is re-raised here (core dumps off), so the parent sees
/// "killed by signal N" and not a plain exit code; 128+N is the fallback.
unsafe fn middle_process(pid: libc::pid_t, forward: bool) -> ! {
    // SAFETY: raw syscalls; this process never returns into Rust code that could allocate.
    unsafe {
        if forward {
            session::forward_signals_to(pid);
        }
        // Close everything but stdio, among it std's exec-error pipe: `spawn` waits for that
        // pipe to close, and this process never execs (pid 1 keeps its copy until its exec).
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
        end_as(status)
    }
}

/// Ends this process the way a child with wait status `status` ended: its exit code, or the
/// same signal re-raised (core dumps off; 128+N as the fallback).
pub(super) unsafe fn end_as(status: libc::c_int) -> ! {
    // SAFETY: raw syscalls on stack values; never returns.
    unsafe {
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        let signal = libc::WTERMSIG(status);
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), signal);
        libc::_exit(128 + signal);
    }
}

unsafe fn mount_overlay(plan: &Plan) -> io::Result<()> {
    if plan.legacy_only {
        // SAFETY: forwarded preconditions.
        return unsafe { legacy_overlay(plan) };
    }
    // SAFETY: raw syscalls with NUL-terminated strings from the plan.
    unsafe {
        let fd = libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), 1u32) as libc::c_int;
        if fd < 0 {
            return legacy_overlay(plan);
        }
        const SET_STRING: u32 = 1;
        const CMD_CREATE: u32 = 6;
        let set = |key: &CStr, value: &CStr| {
            check_long(libc::syscall(
                libc::SYS_fsconfig,
                fd,
                SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            ))
        };
        // One `lowerdir+` per layer (Linux 6.8+): no option string, so no page-size limit.
        for lower in &plan.lowers {
            if set(c"lowerdir+", lower).is_err() {
                // Older kernels have no `lowerdir+`: fall back to the option string.
                libc::close(fd);
                return legacy_overlay(plan);
            }
        }
        set(c"upperdir", &plan.upper)?;
        set(c"workdir", &plan.work)?;
        // See `prepare::overlay_features`.
        let features: &[&CStr] = if plan.userns {
            const SET_FLAG: u32 = 0;
            check_long(libc::syscall(
                libc::SYS_fsconfig,
                fd,
                SET_FLAG,
                c"userxattr".as_ptr(),
                NONE,
                0,
            ))?;
            &[c"index", c"metacopy"]
        } else {
            &[c"index", c"metacopy", c"redirect_dir"]
        };
        for key in features {
            // Unknown options on an old kernel are not fatal: their defaults are off there.
            let _ = set(key, c"off");
        }
        check_long(libc::syscall(
            libc::SYS_fsconfig,
            fd,
            CMD_CREATE,
            NONE,
            NONE,
            0,
        ))?;
        // The root is `nodev`: a node a RUN makes with CAP_MKNOD lands in the layer (docker
        // allows that) but cannot be opened, so the host's disks and consoles stay out of
        // reach. Insecure steps may open what they make.
        const MOUNT_ATTR_NODEV: u32 = 0x4;
        let attrs = if plan.insecure { 0 } else { MOUNT_ATTR_NODEV };
        let mfd = check_long(libc::syscall(libc::SYS_fsmount, fd, 1u32, attrs))? as libc::c_int;
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

/// The classic `mount(2)` with an option string; relative to `legacy_dir` when the plan made
/// short names for a long chain (the string must fit in one page).
unsafe fn legacy_overlay(plan: &Plan) -> io::Result<()> {
    // SAFETY: raw syscalls with NUL-terminated strings.
    unsafe {
        if let Some(dir) = &plan.legacy_dir {
            check(libc::chdir(dir.as_ptr()))?;
        }
        check(libc::mount(
            c"overlay".as_ptr(),
            plan.merged.as_ptr(),
            c"overlay".as_ptr(),
            if plan.insecure { 0 } else { libc::MS_NODEV },
            plan.legacy_options.as_ptr().cast(),
        ))
    }
}

/// A `nodev` tmpfs on `/dev` holding docker's default devices, each bound from a node made on
/// a private tmpfs outside the root (so nothing the command does to its `/dev/null` reaches
/// the host's). The command can still `mknod` in `/dev` (CAP_MKNOD is docker's default) but
/// cannot open what it makes. In a user namespace, where no node can be made, the host's
/// nodes are bound (its `chmod` cannot reach them: their owner is not mapped there).
unsafe fn mount_dev(plan: &Plan) -> io::Result<()> {
    let nodev = if plan.insecure { 0 } else { libc::MS_NODEV };
    // SAFETY: raw syscalls with NUL-terminated strings from the plan.
    unsafe {
        check(libc::mount(
            c"tmpfs".as_ptr(),
            plan.dev_stage.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"mode=755,size=64k".as_ptr().cast(),
        ))?;
        ensure_dir(&plan.dev_dir);
        check(libc::mount(
            c"tmpfs".as_ptr(),
            plan.dev_dir.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_STRICTATIME | nodev,
            c"mode=755,size=65536k".as_ptr().cast(),
        ))?;
        for (node, target, major, minor) in &plan.devices {
            if plan.userns {
                // `node` is the host's own (see `prepare::plan`).
                ensure_file(target);
                check(libc::mount(
                    node.as_ptr(),
                    target.as_ptr(),
                    NONE,
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
                continue;
            }
            check(libc::mknod(
                node.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(*major, *minor),
            ))?;
            // mknod's mode is filtered by the umask.
            check(libc::chmod(node.as_ptr(), 0o666))?;
            ensure_file(target);
            check(libc::mount(
                node.as_ptr(),
                target.as_ptr(),
                NONE,
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
        }
        check(libc::mkdir(plan.dev_pts.as_ptr(), 0o755))?;
        check(libc::mount(
            c"devpts".as_ptr(),
            plan.dev_pts.as_ptr(),
            c"devpts".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620".as_ptr().cast(),
        ))?;
        check(libc::mkdir(plan.dev_shm.as_ptr(), 0o1777))?;
        check(libc::mount(
            c"shm".as_ptr(),
            plan.dev_shm.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=1777,size=65536k".as_ptr().cast(),
        ))?;
        for (target, link) in &plan.dev_links {
            check(libc::symlink(target.as_ptr(), link.as_ptr()))?;
        }
    }
    Ok(())
}

/// sysfs read-only; a read-only recursive bind of the host's when sysfs cannot be mounted.
unsafe fn mount_sys(plan: &Plan) -> io::Result<()> {
    let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: raw syscalls with NUL-terminated strings from the plan.
    unsafe {
        ensure_dir(&plan.sys_dir);
        let sysfs = libc::mount(
            c"sysfs".as_ptr(),
            plan.sys_dir.as_ptr(),
            c"sysfs".as_ptr(),
            ro,
            std::ptr::null(),
        );
        if sysfs == 0 {
            return Ok(());
        }
        check(libc::mount(
            c"/sys".as_ptr(),
            plan.sys_dir.as_ptr(),
            NONE,
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            NONE,
            plan.sys_dir.as_ptr(),
            NONE,
            libc::MS_BIND | libc::MS_REMOUNT | ro,
            std::ptr::null(),
        ))
    }
}

/// docker's masked and read-only paths: the sandbox runs as real root, so without them a RUN
/// could write host-wide knobs (`/proc/sys/...`, `/proc/sysrq-trigger`) or read kernel
/// memory and keys. Paths this kernel lacks are skipped.
unsafe fn mask_paths(plan: &Plan) -> io::Result<()> {
    let ro = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID;
    // SAFETY: raw syscalls with NUL-terminated strings from the plan and stack buffers.
    unsafe {
        for path in &plan.read_only {
            let rc = libc::mount(
                path.as_ptr(),
                path.as_ptr(),
                NONE,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            );
            if rc != 0 {
                if *libc::__errno_location() == libc::ENOENT {
                    continue;
                }
                return Err(io::Error::last_os_error());
            }
            check(libc::mount(
                NONE,
                path.as_ptr(),
                NONE,
                ro | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ))?;
        }
        for path in &plan.masked {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(path.as_ptr(), &mut st) != 0 {
                continue;
            }
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    path.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    c"size=0".as_ptr().cast(),
                ))?;
            } else {
                check(libc::mount(
                    plan.dev_null.as_ptr(),
                    path.as_ptr(),
                    NONE,
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
            }
        }
    }
    Ok(())
}

/// `RUN --mount`s, parents before children (see `prepare::MountPlan`).
unsafe fn extra_mounts(plan: &Plan) -> io::Result<()> {
    // SAFETY: raw syscalls with NUL-terminated strings from the plan.
    unsafe {
        for mount in &plan.mounts {
            for parent in &mount.parents {
                ensure_dir(parent);
            }
            if mount.dir {
                ensure_dir(&mount.target);
            } else {
                ensure_file(&mount.target);
            }
            let bind = |source: &CStr| {
                check(libc::mount(
                    source.as_ptr(),
                    mount.target.as_ptr(),
                    NONE,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))
            };
            match &mount.kind {
                MountPlanKind::Bind { source } => bind(source)?,
                MountPlanKind::Overlay {
                    options,
                    at,
                    source,
                } => {
                    check(libc::mount(
                        c"overlay".as_ptr(),
                        at.as_ptr(),
                        c"overlay".as_ptr(),
                        0,
                        options.as_ptr().cast(),
                    ))?;
                    bind(source)?;
                }
                MountPlanKind::Tmpfs { options } => check(libc::mount(
                    c"tmpfs".as_ptr(),
                    mount.target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    options.as_ptr().cast(),
                ))?,
            }
            harden_mount(&mount.target, mount.readonly)?;
        }
    }
    Ok(())
}

/// Makes a `RUN --mount` (and every mount below it) `nodev`, and read-only when asked,
/// keeping its other flags: a cache mount or a bound host directory must not become a way to
/// open device nodes the root's `nodev` refuses.
unsafe fn harden_mount(target: &CStr, readonly: bool) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_NODEV | if readonly { MOUNT_ATTR_RDONLY } else { 0 },
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr with a stack struct and its size; statfs into a stack struct.
    unsafe {
        let rc = libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        );
        if rc == 0 {
            return Ok(());
        }
        if *libc::__errno_location() != libc::ENOSYS {
            return Err(io::Error::last_os_error());
        }
        // Before Linux 5.12: a bind remount, which replaces the flags, so keep the current ones
        // (glibc's statvfs reads them from statfs's f_flags on these kernels).
        let mut fs: libc::statvfs = std::mem::zeroed();
        check(libc::statvfs(target.as_ptr(), &mut fs))?;
        let current = fs.f_flag as libc::c_ulong;
        let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_NODEV;
        for (st, ms) in [
            (libc::ST_RDONLY, libc::MS_RDONLY),
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
        ] {
            if current & st != 0 {
                flags |= ms;
            }
        }
        if readonly {
            flags |= libc::MS_RDONLY;
        }
        check(libc::mount(
            NONE,
            target.as_ptr(),
            NONE,
            flags,
            std::ptr::null(),
        ))
    }
}

unsafe fn ensure_dir(path: &CStr) {
    // SAFETY: NUL-terminated path; an existing dir makes mkdir fail harmlessly.
    unsafe {
        libc::mkdir(path.as_ptr(), 0o755);
    }
}

unsafe fn ensure_file(path: &CStr) {
    // SAFETY: NUL-terminated path. An existing file is not opened at all: opening a lower
    // file for writing would copy it (and its directory) up into the layer. The init layer
    // (`stubs.rs`) normally provides every bind target, so this is a last resort.
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
pub(super) unsafe fn loopback_up() {
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
