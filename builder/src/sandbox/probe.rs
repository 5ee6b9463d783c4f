//! Trying what the sandbox needs, in a throwaway child: whether this process may make the
//! sandbox's namespaces and mount in them (root), or make a user namespace and mount an overlay
//! inside it (rootless). Asking the kernel is the only sure way: sysctls, seccomp filters,
//! LSMs and missing capabilities all refuse with the same `EPERM`, and what they refuse
//! differs between kernels and container engines.
//!
//! The child is forked from a process that may have threads (tests, the store's), so it only
//! makes raw syscalls on data prepared before the fork and reports the step that failed and
//! its errno over a pipe.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A step of a probe that the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What was tried (`unshare(CLONE_NEWUSER)`, `mounting an overlay`…).
    pub step: &'static str,
    /// The kernel's answer.
    pub errno: i32,
}

impl Refused {
    /// The errno as an error, for messages.
    pub fn error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.error())
    }
}

const STEPS: [&str; 6] = [
    "unshare(CLONE_NEWUSER)",
    "writing the user namespace's id maps",
    "unshare of the mount, pid, uts and ipc namespaces",
    "making the mount tree private",
    "mounting a tmpfs",
    "mounting an overlay",
];

/// Directories for a trial overlay mount: `lower`, `upper`, `work` and `merged` under a
/// temporary directory (on the filesystem the real overlays will use).
struct TrialOverlay {
    _dir: tempfile::TempDir,
    options: CString,
    merged: CString,
}

impl TrialOverlay {
    fn new(parent: &Path, userxattr: bool) -> io::Result<TrialOverlay> {
        let dir = tempfile::Builder::new()
            .prefix("probe-")
            .tempdir_in(parent)?;
        for sub in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(sub))?;
        }
        let features = if userxattr {
            "index=off,metacopy=off,userxattr"
        } else {
            "index=off,metacopy=off,redirect_dir=off"
        };
        let path = |sub: &str| dir.path().join(sub).display().to_string();
        let options = format!(
            "lowerdir={},upperdir={},workdir={},{features}",
            path("lower"),
            path("upper"),
            path("work")
        );
        let cstring = |text: Vec<u8>| {
            CString::new(text).map_err(|_| io::Error::other("NUL in the probe's path"))
        };
        Ok(TrialOverlay {
            options: cstring(options.into_bytes())?,
            merged: cstring(dir.path().join("merged").as_os_str().as_bytes().to_vec())?,
            _dir: dir,
        })
    }
}

/// As root: can this process make the sandbox's namespaces, mount a tmpfs and (with
/// `overlay_in`, a directory on the store's filesystem) an overlay there?
pub fn namespaces(overlay_in: Option<&Path>) -> io::Result<Result<(), Refused>> {
    let overlay = overlay_in
        .map(|dir| TrialOverlay::new(dir, false))
        .transpose()?;
    run_probe(|| {
        // SAFETY: raw syscalls on prepared C strings (see the module docs).
        unsafe {
            let flags =
                libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
            mount_steps(flags, overlay.as_ref())
        }
    })
}

/// As any user: can this process make a user namespace (mapping only itself, as a process
/// may without help), a mount namespace in it, and (with `overlay_in`) an overlay there?
pub fn user_namespace(overlay_in: Option<&Path>) -> io::Result<Result<(), Refused>> {
    let overlay = overlay_in
        .map(|dir| TrialOverlay::new(dir, true))
        .transpose()?;
    // SAFETY: getuid and getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let uid_map = CString::new(format!("0 {uid} 1")).expect("no NUL");
    let gid_map = CString::new(format!("0 {gid} 1")).expect("no NUL");
    run_probe(|| {
        // SAFETY: raw syscalls on prepared C strings (see the module docs).
        unsafe {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(0);
            }
            let maps = [
                (c"/proc/self/setgroups", c"deny"),
                (c"/proc/self/uid_map", uid_map.as_c_str()),
                (c"/proc/self/gid_map", gid_map.as_c_str()),
            ];
            for (file, text) in maps {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(1);
                }
                let len = text.to_bytes().len();
                if libc::write(fd, text.as_ptr().cast(), len) != len as isize {
                    return Err(1);
                }
                libc::close(fd);
            }
            mount_steps(libc::CLONE_NEWNS, overlay.as_ref())
        }
    })
}

/// Unshares `flags`, makes `/` private, mounts a tmpfs on it and the trial overlay; the
/// error is the index of the failed step in [`STEPS`].
unsafe fn mount_steps(flags: libc::c_int, overlay: Option<&TrialOverlay>) -> Result<(), usize> {
    // SAFETY: raw syscalls on NUL-terminated strings.
    unsafe {
        if libc::unshare(flags) != 0 {
            return Err(2);
        }
        let none = std::ptr::null();
        let private = libc::MS_REC | libc::MS_PRIVATE;
        if libc::mount(none, c"/".as_ptr(), none, private, none.cast()) != 0 {
            return Err(3);
        }
        if let Some(overlay) = overlay {
            if libc::mount(
                c"overlay".as_ptr(),
                overlay.merged.as_ptr(),
                c"overlay".as_ptr(),
                0,
                overlay.options.as_ptr().cast(),
            ) != 0
            {
                return Err(5);
            }
        }
        // Over `/` itself, in this namespace only: every system has that directory.
        if libc::mount(
            c"tmpfs".as_ptr(),
            c"/".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            none.cast(),
        ) != 0
        {
            return Err(4);
        }
    }
    Ok(())
}

/// Forks a child that runs `steps` and reports `(step, errno)` of a failure over a pipe.
fn run_probe(steps: impl FnOnce() -> Result<(), usize>) -> io::Result<Result<(), Refused>> {
    let (mut reader, writer) = io::pipe()?;
    // SAFETY: the child makes only raw syscalls (see the module docs) and always `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let report = match steps() {
            Ok(()) => [u8::MAX; 5],
            Err(step) => {
                // SAFETY: reading errno right after the failed call.
                let errno = unsafe { *libc::__errno_location() };
                let mut out = [step as u8, 0, 0, 0, 0];
                out[1..].copy_from_slice(&errno.to_ne_bytes());
                out
            }
        };
        // SAFETY: a write from a stack buffer and `_exit`, both async-signal-safe.
        unsafe {
            libc::write(writer.as_raw_fd(), report.as_ptr().cast(), report.len());
            libc::_exit(0);
        }
    }
    drop(writer);
    let mut report = Vec::new();
    let read = reader.read_to_end(&mut report);
    let mut status = 0;
    // SAFETY: waiting for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    read?;
    match report.as_slice() {
        [u8::MAX, ..] => Ok(Ok(())),
        [step, a, b, c, d] if usize::from(*step) < STEPS.len() => Ok(Err(Refused {
            step: STEPS[usize::from(*step)],
            errno: i32::from_ne_bytes([*a, *b, *c, *d]),
        })),
        _ => Err(io::Error::other("the probe ended without a report")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_may_make_namespaces_and_mount_overlays() {
        if !crate::running_as_root() {
            crate::skip_test("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(namespaces(Some(dir.path())).unwrap(), Ok(()));
        // The probe left nothing behind but its own (removed) directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_user_namespace_can_be_made_and_mount_an_overlay() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(user_namespace(Some(dir.path())).unwrap(), Ok(()));
    }

    #[test]
    fn a_refused_step_is_named_with_its_errno() {
        let refused = run_probe(|| {
            // SAFETY: a raw syscall that fails: no such file.
            unsafe { libc::chdir(c"/nonexistent/strata-probe".as_ptr()) };
            Err(4)
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(refused.step, "mounting a tmpfs");
        assert_eq!(refused.errno, libc::ENOENT);
        assert!(refused
            .to_string()
            .starts_with("mounting a tmpfs: No such file"));
    }
}
