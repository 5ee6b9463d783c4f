//! The last steps of the sandbox's forked side, which confine the command before it is
//! exec'd: capabilities, the user, inherited descriptors and the seccomp filter. Same rules as
//! `child.rs`: raw syscalls on data prepared before the fork, nothing that allocates.

use std::io;

use super::child::{check, check_long};
use super::prepare::KEPT_CAPS;
use crate::users::Identity;

/// Marks every descriptor above stderr close-on-exec, so the command starts with stdio only:
/// a descriptor strata inherited (a CI wrapper's, a make jobserver's, a leaked directory) would
/// otherwise reach the host's filesystem through `/proc/self/fd/N/..` (runc CVE-2024-21626).
/// Close-on-exec rather than close: std's exec-error pipe must live until the exec.
pub(super) unsafe fn close_inherited_fds() -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range and fcntl on descriptor numbers only.
    unsafe {
        let rc = libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        );
        if rc == 0 {
            return Ok(());
        }
        // Before Linux 5.11: every possible descriptor, one by one.
        let mut limit: libc::rlimit = std::mem::zeroed();
        check(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit))?;
        let last = limit.rlim_cur.min(1 << 20) as libc::c_int;
        for fd in 3..last {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Installs the profile's program. Last of all the setup: the filter refuses the mounts and
/// namespace calls the steps before it make.
pub(super) unsafe fn install_seccomp(profile: &super::seccomp::Profile) -> io::Result<()> {
    let program = profile.program();
    let fprog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: the kernel copies the program; `fprog` and the program outlive the call.
    // no_new_privs was set with the capabilities.
    unsafe {
        check_long(libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &fprog as *const libc::sock_fprog,
        ))?;
    }
    Ok(())
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

/// The kept set as the two 32-bit words capset takes.
fn kept_words() -> [u32; 2] {
    let mut keep = [0u32; 2];
    for cap in KEPT_CAPS {
        keep[(cap / 32) as usize] |= 1 << (cap % 32);
    }
    keep
}

/// Drops every capability outside docker's default set from the bounding set (so nothing the
/// command execs can regain them) and forbids gaining privileges through exec.
pub(super) unsafe fn drop_capabilities() -> io::Result<()> {
    let keep = kept_words();
    // SAFETY: prctl calls with plain values.
    unsafe {
        for cap in 0..64u32 {
            let kept = keep[(cap / 32) as usize] & (1 << (cap % 32)) != 0;
            // PR_CAPBSET_READ fails (EINVAL) past the kernel's last capability.
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
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    }
}

/// Sets groups, gid and uid; root keeps exactly the kept set as effective and permitted
/// (a non-root uid loses them all on `setuid`, as in docker).
pub(super) unsafe fn switch_user(
    identity: &Identity,
    insecure: bool,
    setgroups: bool,
) -> io::Result<()> {
    let keep = kept_words();
    // SAFETY: set*id and capset syscalls on stack data and plan-owned slices.
    unsafe {
        let groups: &[u32] = &identity.additional_gids;
        if setgroups {
            check(libc::setgroups(groups.len(), groups.as_ptr()))?;
        }
        check(libc::setgid(identity.gid))?;
        check(libc::setuid(identity.uid))?;
        if identity.uid == 0 && !insecure {
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
