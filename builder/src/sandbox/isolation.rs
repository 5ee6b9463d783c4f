//! Which isolation RUN steps get, chosen from what this environment allows.
//!
//! - [`Isolation::Namespaces`]: root on a host (or a privileged container): the native
//!   sandbox with mount, pid, uts, ipc and network namespaces.
//! - [`Isolation::Rootless`]: any other user, where unprivileged user namespaces are allowed:
//!   strata enters a user namespace of its own (see `rootless/`) and is root there.
//! - [`Isolation::Chroot`]: root where no namespace or mount is allowed (an unprivileged
//!   container or Kubernetes pod): steps run chrooted into a working copy of the stage.
//!
//! [`Environment::probe`] asks the kernel (see `probe.rs`) and reads the files that decide
//! (sysctls, `/etc/subuid`, the `newuidmap` helpers); [`choose`] picks a mode, or says why the
//! one asked for cannot be had and how to fix that. `strata info` shows the same findings.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::network::find_program;
use super::probe::{self, Refused};
use super::rootless::{self, IdMaps, SubidRange};
use crate::error::{Error, Result};

/// An isolation mode (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Root's namespaces sandbox.
    Namespaces,
    /// A user namespace with the user's subordinate ids.
    Rootless,
    /// chroot into a working root filesystem, for environments without namespaces.
    Chroot,
}

impl Isolation {
    /// Every mode, in the order `strata info` lists them.
    pub const ALL: [Isolation; 3] = [
        Isolation::Namespaces,
        Isolation::Rootless,
        Isolation::Chroot,
    ];

    /// The name `--isolation` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Namespaces => "namespaces",
            Isolation::Rootless => "rootless",
            Isolation::Chroot => "chroot",
        }
    }

    /// A mode by name; `auto` is `Ok(None)`.
    pub fn parse(text: &str) -> std::result::Result<Option<Isolation>, String> {
        match text {
            "auto" | "" => Ok(None),
            name => Isolation::ALL
                .into_iter()
                .find(|mode| mode.name() == name)
                .map(Some)
                .ok_or_else(|| {
                    format!("unknown isolation `{name}` (auto, namespaces, rootless or chroot)")
                }),
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Something that keeps a mode from working (or limits it), and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub what: String,
    /// How to fix it.
    pub fix: String,
}

fn problem(what: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        what: what.into(),
        fix: fix.into(),
    }
}

/// The user-namespace sysctls of the kernel (absent ones are `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsernsSysctls {
    /// `kernel.unprivileged_userns_clone` (Debian's and Ubuntu's older kernels).
    pub unprivileged_userns_clone: Option<u64>,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10 and later).
    pub apparmor_restrict: Option<u64>,
}

impl UsernsSysctls {
    /// Reads them from `/proc/sys`.
    pub fn read() -> UsernsSysctls {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|v| v.trim().parse().ok())
        };
        UsernsSysctls {
            unprivileged_userns_clone: read("/proc/sys/kernel/unprivileged_userns_clone"),
            max_user_namespaces: read("/proc/sys/user/max_user_namespaces"),
            apparmor_restrict: read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        }
    }
}

/// What decides the isolation mode, as found in this process's environment.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The real uid and gid.
    pub ids: (u32, u32),
    /// The user's login name.
    pub user: Option<String>,
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// Whether new namespaces and mounts are allowed (probed as root only).
    pub namespaces: Option<std::result::Result<(), Refused>>,
    /// Whether an unprivileged user namespace with mounts is allowed (probed as non-root
    /// only).
    pub user_namespace: Option<std::result::Result<(), Refused>>,
    /// The sysctls that govern user namespaces.
    pub sysctls: UsernsSysctls,
    /// The user's ranges in `/etc/subuid`.
    pub subuids: Vec<SubidRange>,
    /// The user's ranges in `/etc/subgid`.
    pub subgids: Vec<SubidRange>,
    /// `newuidmap` and `newgidmap`, when found and privileged (setuid root or file
    /// capabilities); else why not.
    pub helpers: std::result::Result<(PathBuf, PathBuf), String>,
}

impl Environment {
    /// Probes what the mode for this user depends on: as root, whether namespaces and mounts
    /// are allowed; as another user, whether a user namespace is. `overlay_in`, a directory
    /// on the store's filesystem, adds a trial overlay mount to that probe.
    pub fn probe(overlay_in: Option<&Path>) -> Result<Environment> {
        let mut environment = Environment::read();
        let probing = |source| Error::Sandbox {
            what: "probing what isolation this environment allows".into(),
            source,
        };
        if environment.ids.0 == 0 {
            environment.namespaces = Some(probe::namespaces(overlay_in).map_err(probing)?);
        } else {
            environment.user_namespace = Some(probe::user_namespace(overlay_in).map_err(probing)?);
        }
        Ok(environment)
    }

    /// Probes both kinds of namespace (for `strata info`).
    pub fn probe_all(overlay_in: Option<&Path>) -> Result<Environment> {
        let mut environment = Environment::probe(overlay_in)?;
        let probing = |source| Error::Sandbox {
            what: "probing what isolation this environment allows".into(),
            source,
        };
        if environment.user_namespace.is_none() {
            environment.user_namespace = Some(probe::user_namespace(overlay_in).map_err(probing)?);
        }
        Ok(environment)
    }

    /// The files, ids and sysctls, without asking the kernel (the probes' fields are `None`):
    /// enough to choose rootless mode, whose entry is its own probe.
    pub fn read() -> Environment {
        // SAFETY: getuid and getgid have no preconditions.
        let ids = unsafe { (libc::getuid(), libc::getgid()) };
        let user = rootless::user_name(ids.0);
        let subuids =
            rootless::read_ranges(Path::new(rootless::SUBUID_FILE), user.as_deref(), ids.0);
        let subgids =
            rootless::read_ranges(Path::new(rootless::SUBGID_FILE), user.as_deref(), ids.0);
        Environment {
            ids,
            user,
            kernel: kernel_release(),
            namespaces: None,
            user_namespace: None,
            sysctls: UsernsSysctls::read(),
            subuids,
            subgids,
            helpers: find_helpers(),
        }
    }

    /// What keeps the namespaces mode from working here.
    pub fn namespaces_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.ids.0 != 0 {
            problems.push(problem(
                "strata does not run as root",
                "run it as root, or build rootless (--isolation rootless)",
            ));
        }
        if let Some(Err(refused)) = &self.namespaces {
            problems.push(problem(
                format!("the kernel refuses new namespaces or mounts ({refused})"),
                "this looks like an unprivileged container: use --isolation chroot, or give \
                 the container CAP_SYS_ADMIN and an unconfined seccomp profile",
            ));
        }
        problems
    }

    /// What keeps the rootless mode from working here.
    pub fn rootless_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.ids.0 == 0 {
            problems.push(problem(
                "strata runs as root",
                "rootless mode is for other users; as root, use --isolation namespaces",
            ));
            return problems;
        }
        if !kernel_at_least(&self.kernel, (5, 11)) {
            problems.push(problem(
                format!(
                    "Linux {} cannot mount overlayfs in a user namespace",
                    self.kernel
                ),
                "upgrade to Linux 5.11 or later",
            ));
        }
        let sysctls = &self.sysctls;
        if sysctls.unprivileged_userns_clone == Some(0) {
            problems.push(problem(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)",
                "as root: sysctl -w kernel.unprivileged_userns_clone=1",
            ));
        }
        if sysctls.max_user_namespaces == Some(0) {
            problems.push(problem(
                "user namespaces are disabled (user.max_user_namespaces = 0)",
                "as root: sysctl -w user.max_user_namespaces=28633",
            ));
        }
        if sysctls.apparmor_restrict == Some(1) {
            problems.push(problem(
                "AppArmor restricts unprivileged user namespaces \
                 (kernel.apparmor_restrict_unprivileged_userns = 1)",
                "as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an \
                 AppArmor profile that allows userns for strata",
            ));
        }
        if let Some(Err(refused)) = &self.user_namespace {
            if problems.is_empty() {
                problems.push(refused_user_namespace(refused));
            }
        }
        problems
    }

    /// What limits the rootless mode without stopping it (no subordinate ids: only root is
    /// mapped).
    pub fn rootless_limits(&self) -> Vec<Problem> {
        let name = self.user.clone().unwrap_or_else(|| self.ids.0.to_string());
        let add = format!(
            "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name} \
             (the line `{name}:100000:65536` in /etc/subuid and /etc/subgid)"
        );
        let mut limits = Vec::new();
        let missing: Vec<&str> = [
            (&self.subuids, rootless::SUBUID_FILE),
            (&self.subgids, rootless::SUBGID_FILE),
        ]
        .into_iter()
        .filter(|(ranges, _)| ranges.is_empty())
        .map(|(_, file)| file)
        .collect();
        if !missing.is_empty() {
            limits.push(problem(
                format!(
                    "no subordinate ids for `{name}` in {}",
                    missing.join(" and ")
                ),
                add,
            ));
        }
        if let Err(why) = &self.helpers {
            limits.push(problem(
                why.clone(),
                "apt-get install uidmap (or shadow-utils)",
            ));
        }
        limits
    }

    /// What keeps the chroot mode from working here.
    pub fn chroot_problems(&self) -> Vec<Problem> {
        if self.ids.0 != 0 {
            return vec![problem(
                "strata does not run as root",
                "chroot mode is for root in a container without privileges; as another \
                 user, build rootless",
            )];
        }
        Vec::new()
    }

    /// The id maps rootless mode enters with: the subordinate ranges through the helpers
    /// when both ranges and both helpers are there, else root alone.
    pub fn id_maps(&self) -> IdMaps {
        match &self.helpers {
            Ok(helpers) if !self.subuids.is_empty() && !self.subgids.is_empty() => {
                IdMaps::with_ranges(self.ids, &self.subuids, &self.subgids, helpers.clone())
            }
            _ => IdMaps::single(self.ids),
        }
    }
}

/// Why the kernel refused an unprivileged user namespace, when no sysctl explains it.
fn refused_user_namespace(refused: &Refused) -> Problem {
    if refused.step == "mounting an overlay" {
        return problem(
            format!("overlayfs cannot be mounted in a user namespace here ({refused})"),
            "Linux 5.11 or later with overlayfs, and a store on a filesystem with user \
             xattrs (ext4, xfs, btrfs; tmpfs from Linux 6.6)",
        );
    }
    problem(
        format!("the kernel refuses an unprivileged user namespace ({refused})"),
        "a seccomp profile or security module forbids it (docker's default profile does): \
         allow unshare and mount for strata, or run it as root with --isolation chroot",
    )
}

/// The mode to use and why.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The mode.
    pub isolation: Isolation,
    /// Why, for the announcement (`isolation: rootless (why)`).
    pub why: String,
    /// For rootless mode: the id maps to enter the user namespace with.
    pub maps: Option<IdMaps>,
    /// What the user should know about the mode's limits.
    pub warnings: Vec<String>,
}

impl Chosen {
    /// Whether strata announces the mode: every mode but root's default.
    pub fn announced(&self) -> bool {
        self.isolation != Isolation::Namespaces
    }
}

/// Picks the mode `requested` names (`None`: the best this environment allows), or says why
/// it cannot be had.
pub fn choose(requested: Option<Isolation>, environment: &Environment) -> Result<Chosen> {
    let unavailable = |isolation: &str, problems: Vec<Problem>| Error::IsolationUnavailable {
        isolation: isolation.to_string(),
        reasons: problems
            .into_iter()
            .map(|p| format!("{} (fix: {})", p.what, p.fix))
            .collect(),
    };
    let root = environment.ids.0 == 0;
    let pick = match requested {
        Some(mode) => mode,
        None if root && environment.namespaces_problems().is_empty() => Isolation::Namespaces,
        None if root => Isolation::Chroot,
        None => Isolation::Rootless,
    };
    let problems = match pick {
        Isolation::Namespaces => environment.namespaces_problems(),
        Isolation::Rootless => environment.rootless_problems(),
        Isolation::Chroot => environment.chroot_problems(),
    };
    if !problems.is_empty() {
        let name = match requested {
            Some(mode) => mode.name(),
            None => "auto",
        };
        return Err(unavailable(name, problems));
    }
    let chosen = match pick {
        Isolation::Namespaces => Chosen {
            isolation: pick,
            why: "root".into(),
            maps: None,
            warnings: Vec::new(),
        },
        Isolation::Rootless => rootless_choice(environment),
        Isolation::Chroot => Chosen {
            isolation: pick,
            why: match environment.namespaces_problems().first() {
                Some(problem) if requested.is_none() => problem.what.clone(),
                _ => "as asked".into(),
            },
            maps: None,
            warnings: Vec::new(),
        },
    };
    Ok(chosen)
}

fn rootless_choice(environment: &Environment) -> Chosen {
    let maps = environment.id_maps();
    let (uid, _) = environment.ids;
    let mut warnings = Vec::new();
    let why = if maps.helpers.is_some() {
        format!(
            "uid {uid} is not root: a user namespace with {} subordinate ids from {}",
            maps.subordinate_uids(),
            rootless::SUBUID_FILE
        )
    } else {
        let limits: Vec<String> = environment
            .rootless_limits()
            .into_iter()
            .map(|p| format!("{} (fix: {})", p.what, p.fix))
            .collect();
        warnings.push(format!(
            "only root is mapped in the user namespace: chown to other ids, USER steps with \
             another user and images owning files by other ids will fail; {}",
            limits.join("; ")
        ));
        format!("uid {uid} is not root: a user namespace mapping uid {uid} alone")
    };
    Chosen {
        isolation: Isolation::Rootless,
        why,
        maps: Some(maps),
        warnings,
    }
}

/// `newuidmap` and `newgidmap`, found and able to map (setuid root, or file capabilities).
fn find_helpers() -> std::result::Result<(PathBuf, PathBuf), String> {
    let find = |name: &str| {
        let path = find_program(name).ok_or_else(|| format!("`{name}` not found"))?;
        let meta = std::fs::metadata(&path).map_err(|e| format!("`{}`: {e}", path.display()))?;
        let setuid_root = meta.uid() == 0 && meta.mode() & 0o4000 != 0;
        if setuid_root || has_file_capabilities(&path) {
            Ok(path)
        } else {
            Err(format!(
                "`{}` is neither setuid root nor has file capabilities",
                path.display()
            ))
        }
    };
    Ok((find("newuidmap")?, find("newgidmap")?))
}

fn has_file_capabilities(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path and name; a null buffer asks for the size only.
    let size = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// `uname -r`.
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain data, all-zero is a valid value.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct we own.
    if unsafe { libc::uname(&mut name) } != 0 {
        return "unknown".into();
    }
    // SAFETY: the kernel NUL-terminates the field.
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    release.to_string_lossy().into_owned()
}

/// Whether a kernel release (`6.1.0-18-amd64`) is at least `major.minor`; unknown forms pass.
fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(have_major)), Some(Ok(have_minor))) => (have_major, have_minor) >= (major, minor),
        _ => true,
    }
}

#[cfg(test)]
#[path = "isolation_tests.rs"]
mod tests;
