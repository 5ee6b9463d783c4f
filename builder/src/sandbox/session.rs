//! The forked side of what `strata run` adds to the RUN sandbox (see `child.rs` for the rules
//! that hold here: raw, async-signal-safe syscalls on prepared data only): the container's own
//! terminal, the read-only root, and passing signals on to pid 1 (docker's sig-proxy).

use std::io;
use std::os::fd::RawFd;

use super::child::check;
use super::prepare::Plan;

const NONE: *const libc::c_char = std::ptr::null();

/// Signals a `strata run` passes on to the container, as docker's sig-proxy (SIGCHLD, SIGPIPE,
/// SIGWINCH and the unblockable ones are not proxied; a resize reaches a pty by ioctl).
pub const FORWARDED_SIGNALS: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

/// Where [`forward_signal`] sends what it catches (0: nowhere yet).
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::Relaxed);
    // Never 0 or -1: kill would reach a whole process group, or everything.
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Sends the [`FORWARDED_SIGNALS`] this process receives on to `pid` from now on. Pid 1 of
/// the container gets them as docker's sig-proxy delivers them: without a handler of its own
/// it ignores them (the kernel protects a namespace's init), as under docker.
///
/// # Safety
/// Replaces the process's handlers for those signals; async-signal-safe.
pub unsafe fn forward_signals_to(pid: libc::pid_t) {
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: sigaction with a zeroed struct naming an async-signal-safe handler.
    unsafe {
        for signal in FORWARDED_SIGNALS {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &forwarded_set(), std::ptr::null_mut());
    }
}

/// Stops forwarding (the process it went to is gone, and its pid may be reused); the handlers
/// stay and drop what arrives.
pub fn stop_forwarding() {
    FORWARD_TO.store(0, std::sync::atomic::Ordering::Relaxed);
}

/// Blocks the [`FORWARDED_SIGNALS`] in the calling thread (and the threads it starts later)
/// until [`forward_signals_to`] unblocks them: one that arrives while the container starts
/// waits instead of killing strata, and is forwarded once there is a process to forward to.
pub fn block_forwarded_signals() {
    // SAFETY: sigprocmask on a stack set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &forwarded_set(), std::ptr::null_mut());
    }
}

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset on a stack set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in FORWARDED_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// `-t`: a pty from the container's devpts, its slave as stdio and controlling terminal of pid
/// 1 (a session leader: job control, ^C as SIGINT to its foreground group, SIGWINCH on
/// resize, as under docker -t), its master sent to strata (runc's console socket, in small).
pub(super) unsafe fn console(plan: &Plan, socket: RawFd) -> io::Result<()> {
    // SAFETY: open/ioctl/dup2/sendmsg on descriptors this process owns, stack structs only.
    unsafe {
        let master = libc::open(
            plan.ptmx.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        check(master)?;
        let unlock: libc::c_int = 0;
        check(libc::ioctl(master, libc::TIOCSPTLCK, &unlock))?;
        if let Some(size) = &plan.console_size {
            libc::ioctl(master, libc::TIOCSWINSZ, size);
        }
        // The slave by the master (Linux 4.13+), not by a path another process could swap.
        let slave = libc::ioctl(
            master,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        check(slave)?;
        for fd in 0..3 {
            check(libc::dup2(slave, fd))?;
        }
        libc::close(slave);
        check(libc::setsid())?;
        check(libc::ioctl(0, libc::TIOCSCTTY, 0))?;
        // One byte of data carrying the master as SCM_RIGHTS.
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        const SPACE: usize = 64;
        let mut control = [0u8; SPACE];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), master);
        let sent = libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL);
        libc::close(master);
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `--read-only`: the root mount (not the ones on it: `/dev`, `/proc`, volumes) becomes
/// read-only once everything the setup writes in it is there.
pub(super) unsafe fn read_only_root() -> io::Result<()> {
    // SAFETY: a bind remount of `/` with plain flags; the root is `nodev` already (see
    // `mount_overlay`), keep it so.
    unsafe {
        check(libc::mount(
            NONE,
            c"/".as_ptr(),
            NONE,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NODEV,
            std::ptr::null(),
        ))
    }
}
