//! The build's own network: one network namespace per build, joined by every RUN of the
//! default network mode, with outbound access through slirp4netns.
//!
//! docker build gives RUN steps a network namespace of their own (a bridge with NAT), so a
//! Dockerfile can download packages but cannot reach services the host binds to 127.0.0.1, nor
//! sniff the host's traffic with `CAP_NET_RAW`. strata does the same without touching the
//! host's firewall: the namespace's only way out is slirp4netns, a user-mode TCP/IP stack that
//! turns the namespace's packets into ordinary sockets of its own process on the host. It runs
//! with `--disable-host-loopback` (its gateway 10.0.2.2 does not lead to the host's 127.0.0.1),
//! `--enable-sandbox` and `--enable-seccomp` (it parses packets a hostile RUN writes, so it
//! runs confined too), in a private mount namespace of its own (its sandbox would otherwise
//! unmount the host's shared mounts, see `start_slirp`), and exits with strata (`--exit-fd`).
//!
//! One namespace serves the whole build (BuildKit keeps a small pool for the same reason):
//! making it and starting slirp4netns costs a few milliseconds once, joining it is one
//! `setns` per RUN. It is created by a short-lived thread that `unshare`s its own network
//! namespace and keeps a descriptor to it: the descriptor keeps the namespace alive without a
//! process, and the rest of strata stays in the host's namespace.
//!
//! Without slirp4netns the namespace still isolates the host, with loopback only: the build
//! warns once and RUN steps that need the network fail as they would offline.

use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

/// The DNS forwarder slirp4netns answers on inside the namespace.
pub const SLIRP_DNS: &str = "10.0.2.3";

/// How long slirp4netns may take to configure the namespace.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The build's network namespace and what connects it.
pub struct BuildNetwork {
    netns: OwnedFd,
    slirp: Option<Slirp>,
    /// Why there is no outbound access, when there is none.
    no_outbound: Option<String>,
}

struct Slirp {
    child: Child,
    /// slirp4netns exits when this closes (strata ended, or this network was dropped).
    _exit_writer: io::PipeWriter,
}

impl BuildNetwork {
    /// A new namespace with loopback up, connected to the outside through `slirp4netns` when
    /// that program is found (else loopback only: see [`BuildNetwork::has_outbound`]).
    /// `log` receives slirp4netns's messages.
    pub fn start(log: &Path) -> Result<BuildNetwork> {
        let netns = new_namespace()?;
        let (slirp, no_outbound) = match (find_program("slirp4netns"), tun_usable()) {
            (Some(program), Ok(())) => (Some(start_slirp(&program, &netns, log)?), None),
            (None, _) => (
                None,
                Some("slirp4netns not found (apt-get install slirp4netns)".to_string()),
            ),
            (Some(_), Err(why)) => (None, Some(why)),
        };
        Ok(BuildNetwork {
            netns,
            slirp,
            no_outbound,
        })
    }

    /// Why RUN steps cannot reach the outside, with the fix; `None` when they can.
    pub fn why_no_outbound(&self) -> Option<&str> {
        self.no_outbound.as_deref()
    }

    /// The namespace, for `setns`.
    pub fn fd(&self) -> RawFd {
        self.netns.as_raw_fd()
    }

    /// True when RUN steps can reach the outside (slirp4netns runs).
    pub fn has_outbound(&self) -> bool {
        self.slirp.is_some()
    }

    /// `/etc/resolv.conf` for the namespace: the host's search domains and options with
    /// slirp4netns's forwarder as the nameserver (the host's own may be a loopback address
    /// such as systemd-resolved's, which the namespace cannot reach); empty without outbound.
    pub fn resolv_conf(&self, host: &str) -> String {
        if self.has_outbound() {
            slirp_resolv_conf(host)
        } else {
            String::new()
        }
    }
}

fn slirp_resolv_conf(host: &str) -> String {
    let mut out: String = host
        .lines()
        .filter(|line| !line.trim_start().starts_with("nameserver"))
        .map(|line| format!("{line}\n"))
        .collect();
    out.push_str(&format!("nameserver {SLIRP_DNS}\n"));
    out
}

impl Drop for BuildNetwork {
    /// Kills slirp4netns without waiting for it: its exit unregisters the tap device, which
    /// takes the kernel 15–45 ms of RCU grace periods — longer than many whole builds. A
    /// thread reaps it; if strata exits first, init does.
    fn drop(&mut self) {
        if let Some(mut slirp) = self.slirp.take() {
            let _ = slirp.child.kill();
            // Without a thread it stays a zombie until strata exits: harmless.
            let _ = std::thread::Builder::new()
                .name("slirp4netns-reaper".into())
                .spawn(move || {
                    let _ = slirp.child.wait();
                });
        }
    }
}

/// A network namespace with `lo` up, made by a thread of its own so that no other thread of
/// strata changes namespace.
fn new_namespace() -> Result<OwnedFd> {
    let made = std::thread::spawn(|| -> io::Result<OwnedFd> {
        // SAFETY: unshare and open on a NUL-terminated literal; the namespace change affects
        // only this thread, which ends right after.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::open(
                c"/proc/thread-self/ns/net".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            super::child::loopback_up();
            Ok(OwnedFd::from_raw_fd(fd))
        }
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")));
    made.map_err(|source| Error::Sandbox {
        what: "creating the build's network namespace".into(),
        source,
    })
}

/// Starts slirp4netns on `netns` and waits until it has configured `tap0`.
fn start_slirp(program: &Path, netns: &OwnedFd, log: &Path) -> Result<Slirp> {
    let failed = |source: io::Error| Error::Sandbox {
        what: format!("starting `{}` for the build's network", program.display()),
        source,
    };
    let (mut ready_reader, ready_writer) = io::pipe().map_err(failed)?;
    let (exit_reader, exit_writer) = io::pipe().map_err(failed)?;
    let log_file = fs::File::create(log).map_err(|source| Error::Io {
        path: log.to_path_buf(),
        source,
    })?;
    let fds = [
        ready_writer.as_raw_fd(),
        exit_reader.as_raw_fd(),
        netns.as_raw_fd(),
    ];
    let mut command = Command::new(program);
    command
        .args([
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            "--enable-sandbox",
            "--enable-seccomp",
            "--ready-fd=3",
            "--exit-fd=4",
            "--netns-type=path",
            "/proc/self/fd/5",
            "tap0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    // SAFETY: unshare, mount, fcntl and dup2 only, on descriptors that stay open in the parent
    // until spawn returns.
    unsafe {
        command.pre_exec(move || {
            // slirp4netns's `--enable-sandbox` makes only `/` private (not recursively) before
            // it detaches the old root, and as real root in the host's mount namespace that
            // detach propagates back through every shared mount below `/`: it unmounted the
            // overlays of docker's running containers. So it starts in a mount namespace of
            // its own whose mounts are all private: nothing it does there reaches the host.
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // Each descriptor is first copied above 9 so that moving one to 3, 4 or 5 cannot
            // overwrite another that has that number; dup2 clears close-on-exec on the copies.
            let mut high = [0; 3];
            for (slot, fd) in high.iter_mut().zip(fds) {
                *slot = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                if *slot < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            for (target, fd) in [3, 4, 5].into_iter().zip(high) {
                if libc::dup2(fd, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(failed)?;
    drop(ready_writer);
    drop(exit_reader);
    let ready = wait_readable(&ready_reader, READY_TIMEOUT).and_then(|()| {
        let mut byte = [0u8; 1];
        match ready_reader.read(&mut byte)? {
            1 => Ok(()),
            _ => Err(io::Error::other("it exited before configuring the network")),
        }
    });
    if let Err(error) = ready {
        let _ = child.kill();
        let _ = child.wait();
        let said = fs::read_to_string(log).unwrap_or_default();
        let said = said.trim();
        let source = if said.is_empty() {
            error
        } else {
            io::Error::other(format!("{error}: {said}"))
        };
        return Err(failed(source));
    }
    Ok(Slirp {
        child,
        _exit_writer: exit_writer,
    })
}

fn wait_readable(reader: &io::PipeReader, timeout: Duration) -> io::Result<()> {
    let mut poll = libc::pollfd {
        fd: reader.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    loop {
        // SAFETY: poll on one pollfd on the stack.
        let n = unsafe { libc::poll(&mut poll, 1, millis) };
        if n > 0 {
            return Ok(());
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("not ready after {}s", timeout.as_secs()),
            ));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// The tun device slirp4netns opens in the namespace. Distributions make it 0666 (udev's
/// `static_node` rule), but some machines leave it 0600: then only the host's root may open
/// it, and a rootless build has no way out.
pub const TUN_DEVICE: &str = "/dev/net/tun";

/// Whether this process may open the tun device; else why not, with the fix.
pub fn tun_usable() -> std::result::Result<(), String> {
    let path = std::ffi::CString::new(TUN_DEVICE).expect("no NUL");
    // SAFETY: access on a NUL-terminated path.
    if unsafe { libc::access(path.as_ptr(), libc::R_OK | libc::W_OK) } == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    Err(match error.raw_os_error() {
        Some(libc::ENOENT) => {
            format!("{TUN_DEVICE} is missing (modprobe tun; in a container, pass the device in)")
        }
        _ => format!(
            "{TUN_DEVICE} cannot be opened by this user ({error}): as root, \
             chmod 0666 {TUN_DEVICE} (the mode udev gives it)"
        ),
    })
}

/// `name` on PATH, else in the usual system directories (CI images may run strata with a
/// minimal PATH).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_search_and_options_and_points_at_slirps_dns() {
        let host = "# generated\nsearch corp.example\nnameserver 127.0.0.53\noptions ndots:2\n";
        assert_eq!(
            slirp_resolv_conf(host),
            "# generated\nsearch corp.example\noptions ndots:2\nnameserver 10.0.2.3\n"
        );
        assert_eq!(slirp_resolv_conf(""), "nameserver 10.0.2.3\n");
    }
}
