//! Everything the sandbox child needs, computed before the fork: after `fork` in a threaded
//! program only async-signal-safe calls are allowed — no allocation — so every path, option
//! string and id is turned into C strings and numbers here.

use std::ffi::CString;
use std::fs;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::seccomp::{self, Profile};
use super::stubs::{MountPoints, Stub, ETC_FILES};
use super::{MountFrom, Network, RunRequest, Security};
use crate::error::{Error, Result};
use crate::users::{Identity, UserDb};
use strata_oci::{in_user_namespace, LayerStack};

/// The hostname RUN sees (BuildKit's).
pub const HOSTNAME: &str = "buildkitsandbox";

/// Capabilities a build keeps: docker's default set for containers.
pub const KEPT_CAPS: [u32; 14] = [
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    8,  // CAP_SETPCAP
    10, // CAP_NET_BIND_SERVICE
    13, // CAP_NET_RAW
    18, // CAP_SYS_CHROOT
    27, // CAP_MKNOD
    29, // CAP_AUDIT_WRITE
    31, // CAP_SETFCAP
];

/// Hidden from the command, as docker hides them (kernel memory, keys, timers, firmware).
pub const MASKED_PATHS: [&str; 12] = [
    "proc/asound",
    "proc/acpi",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];

/// Read-only for the command, as docker makes them: host-wide knobs a root process could
/// otherwise turn (sysctls, `sysrq-trigger`, IRQ affinity).
pub const READ_ONLY_PATHS: [&str; 5] = [
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// The child's plan.
pub struct Plan {
    pub merged: CString,
    pub lowers: Vec<CString>,
    pub upper: CString,
    pub work: CString,
    /// `lowerdir=…,upperdir=…,workdir=…` for kernels without `fsconfig` (`lowerdir+`).
    pub legacy_options: CString,
    pub proc_dir: CString,
    pub dev_dir: CString,
    pub sys_dir: CString,
    /// (host file, target in merged) for resolv.conf, hosts, hostname.
    pub etc_binds: Vec<(CString, CString)>,
    /// A private directory where the allowed device nodes are made on a tmpfs of their own,
    /// to be bound one by one into a `nodev` `/dev` (see `child::mount_dev`).
    pub dev_stage: CString,
    /// The allowed device nodes: (node in `dev_stage`, path in merged, major, minor).
    pub devices: Vec<(CString, CString, u32, u32)>,
    pub dev_pts: CString,
    /// `/dev/null` in merged, bound over masked files.
    pub dev_null: CString,
    /// Paths (in merged) hidden: files under `/dev/null`, directories under an empty tmpfs.
    pub masked: Vec<CString>,
    /// Paths (in merged) made read-only.
    pub read_only: Vec<CString>,
    pub dev_shm: CString,
    /// (target, link path) symlinks in `/dev`.
    pub dev_links: Vec<(CString, CString)>,
    /// Each prefix of the working directory, to `mkdir -p` it after `pivot_root`.
    pub cwd_prefixes: Vec<CString>,
    pub cwd: CString,
    pub hostname: CString,
    pub network_none: bool,
    /// The build's network namespace, joined before the others are made.
    pub netns: Option<RawFd>,
    /// `RUN --security=insecure`: all capabilities, no seccomp, no masks, devices openable.
    pub insecure: bool,
    /// The seccomp programs to install last (none when insecure).
    pub seccomp: Option<&'static Profile>,
    pub identity: Identity,
    /// strata's pid: the child exits at once if its parent is already another process.
    pub parent_pid: libc::pid_t,
    /// Skip `fsopen` and mount with the option string (tests of the old-kernel path).
    pub legacy_only: bool,
    /// strata runs in a user namespace (rootless mode): overlays are mounted with
    /// `userxattr`, and the device nodes are the host's, bound (no `mknod` there).
    pub userns: bool,
    /// `setgroups` is allowed (not when a single-id mapping had to deny it).
    pub setgroups: bool,
    /// The directory the option string's relative names are relative to, if they are.
    pub legacy_dir: Option<CString>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Extra mounts, parents before children.
    pub mounts: Vec<MountPlan>,
    /// `strata run`: the sandbox's processes get a session of their own (signals from the
    /// terminal reach strata, which forwards them) and the middle process forwards what it
    /// receives to pid 1.
    pub own_session: bool,
    /// `strata run -t`: pid 1 opens a pty on the container's own devpts (so `tty` names it,
    /// as under docker), makes the slave its stdio and controlling terminal, and sends the
    /// master to strata over this socket.
    pub console_socket: Option<RawFd>,
    /// The window size to give that pty first.
    pub console_size: Option<libc::winsize>,
    /// `/dev/pts/ptmx` in merged.
    pub ptmx: CString,
    /// The root filesystem is remounted read-only once set up (`--read-only`).
    pub read_only_root: bool,
}

/// One extra mount, ready for the child.
pub struct MountPlan {
    /// Directories to create first, outermost first (in merged). They exist already unless
    /// the target is in the sandbox's `/dev` tmpfs: the init layer made them.
    pub parents: Vec<CString>,
    /// The mount point (in merged), symlinks resolved inside the image.
    pub target: CString,
    /// A directory is mounted (else a file).
    pub dir: bool,
    /// Remount read-only after mounting.
    pub readonly: bool,
    /// What to mount.
    pub kind: MountPlanKind,
}

/// How the child makes one extra mount.
pub enum MountPlanKind {
    /// Bind a host path.
    Bind { source: CString },
    /// Mount an overlay (option string) at `at`, then bind `source`, a path inside it.
    Overlay {
        options: CString,
        at: CString,
        source: CString,
    },
    /// A tmpfs with these options.
    Tmpfs { options: CString },
}

/// The extra mounts of a request, resolved against the image: the init-layer stubs they need
/// and their plans, parents before children. `scratch` receives the overlays' dirs.
pub fn extra_mounts(
    request: &RunRequest<'_>,
    image: &LayerStack,
    scratch: &Path,
) -> Result<(Vec<Stub>, Vec<ResolvedMount>)> {
    let mut resolved = Vec::with_capacity(request.mounts.len());
    for (n, mount) in request.mounts.iter().enumerate() {
        let target = image.resolve(&mount.target)?;
        let (dir, kind) = match &mount.source {
            MountFrom::Host(path) => {
                let meta = fs::metadata(path).map_err(io(path))?;
                (meta.is_dir(), ResolvedKind::Bind(path.clone()))
            }
            MountFrom::Tmpfs { size } => (true, ResolvedKind::Tmpfs(*size)),
            MountFrom::Layers { lowers, path } => {
                let stack = LayerStack::new(lowers.clone());
                let inside = stack.resolve(path)?;
                let found = stack.lookup(&inside)?.ok_or_else(|| Error::BadSource {
                    source_path: path.clone(),
                    reason: "not found in the mount's source".into(),
                })?;
                let at = scratch.join(format!("mount-{n}"));
                let mut lowers = lowers.clone();
                if lowers.is_empty() {
                    let empty = at.join("empty");
                    fs::create_dir_all(&empty).map_err(io(&empty))?;
                    lowers.push(empty);
                }
                (
                    found.meta.is_dir(),
                    ResolvedKind::Layers { lowers, at, inside },
                )
            }
        };
        resolved.push(ResolvedMount {
            target,
            dir,
            readonly: mount.readonly,
            kind,
        });
    }
    // Parents first: a mount inside another's target goes on top of it.
    resolved.sort_by_key(|m| m.target.split('/').filter(|p| !p.is_empty()).count());
    let stubs = resolved
        .iter()
        .map(|m| Stub {
            path: m.target.clone(),
            dir: m.dir,
        })
        .collect();
    Ok((stubs, resolved))
}

/// An extra mount with its target resolved in the image.
pub struct ResolvedMount {
    target: String,
    dir: bool,
    readonly: bool,
    kind: ResolvedKind,
}

enum ResolvedKind {
    Bind(PathBuf),
    Tmpfs(Option<u64>),
    Layers {
        lowers: Vec<PathBuf>,
        at: PathBuf,
        inside: String,
    },
}

fn mount_plan(mount: &ResolvedMount, merged: &Path) -> Result<MountPlan> {
    let rel = mount.target.trim_start_matches('/');
    let mut parents = Vec::new();
    let mut prefix = merged.to_path_buf();
    if let Some((parent, _)) = rel.rsplit_once('/') {
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            prefix.push(part);
            parents.push(cpath(&prefix)?);
        }
    }
    let kind = match &mount.kind {
        ResolvedKind::Bind(path) => MountPlanKind::Bind {
            source: cpath(path)?,
        },
        ResolvedKind::Tmpfs(size) => MountPlanKind::Tmpfs {
            options: c(match size {
                Some(size) => format!("mode=1777,size={size}"),
                None => "mode=1777".to_string(),
            })?,
        },
        ResolvedKind::Layers { lowers, at, inside } => {
            let (root, upper, work) = (at.join("root"), at.join("upper"), at.join("work"));
            for dir in [&root, &upper, &work] {
                fs::create_dir_all(dir).map_err(io(dir))?;
            }
            let lowers: Vec<String> = lowers
                .iter()
                .map(|p| escape(&p.display().to_string()))
                .collect();
            let options = format!(
                "lowerdir={},upperdir={},workdir={},{}",
                lowers.join(":"),
                escape(&upper.display().to_string()),
                escape(&work.display().to_string()),
                overlay_features()
            );
            if options.len() > MAX_MOUNT_OPTIONS {
                return Err(Error::Sandbox {
                    what: format!("mounting {} layers at `{}`", lowers.len(), mount.target),
                    source: std::io::Error::other(
                        "too many layers for a mount's source; squash that stage or image",
                    ),
                });
            }
            MountPlanKind::Overlay {
                options: c(options)?,
                source: cpath(&root.join(inside.trim_start_matches('/')))?,
                at: cpath(&root)?,
            }
        }
    };
    Ok(MountPlan {
        parents,
        target: cpath(&merged.join(rel))?,
        dir: mount.dir,
        readonly: mount.readonly,
        kind,
    })
}

fn c(bytes: impl AsRef<[u8]>) -> Result<CString> {
    CString::new(bytes.as_ref()).map_err(|_| Error::BadSource {
        source_path: String::from_utf8_lossy(bytes.as_ref()).into_owned(),
        reason: "contains a NUL byte".into(),
    })
}

fn cpath(path: &Path) -> Result<CString> {
    c(path.as_os_str().as_bytes())
}

/// The longest overlay option string `mount(2)` takes: one page, with its NUL.
const MAX_MOUNT_OPTIONS: usize = 4095;

/// The network a run joins, as the executor set it up.
pub struct RunNetwork {
    /// The namespace to join (the build's), or none for the host's or a fresh one.
    pub netns: Option<RawFd>,
    /// The `/etc/resolv.conf` the command sees.
    pub resolv_conf: Vec<u8>,
}

/// The device nodes a RUN can open: docker's default set (`/dev/pts/ptmx` comes with devpts).
pub const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Builds the plan; `mounts` says where the init layer is (on top of the image's) and where
/// `/etc` is; `scratch` is a private dir for the merged mount point and the etc files.
pub fn plan(
    request: &RunRequest<'_>,
    image: &LayerStack,
    mounts: &MountPoints,
    extra: &[ResolvedMount],
    scratch: &Path,
    network: RunNetwork,
    hostname: &str,
) -> Result<Plan> {
    let users = UserDb::load(|path| image.read_file(path));
    let identity = if request.user.is_empty() {
        Identity {
            home: Some("/root".into()),
            ..Identity::default()
        }
    } else {
        users.resolve_user(request.user)?
    };
    let merged = scratch.join("merged");
    fs::create_dir_all(&merged).map_err(io(&merged))?;
    let etc = scratch.join("etc");
    fs::create_dir_all(&etc).map_err(io(&etc))?;
    let resolv = network.resolv_conf;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    );
    let contents: [Vec<u8>; 3] = [
        resolv,
        hosts.into_bytes(),
        format!("{hostname}\n").into_bytes(),
    ];
    let mut etc_binds = Vec::new();
    for (name, content) in ETC_FILES.iter().zip(contents) {
        let host = etc.join(name);
        fs::write(&host, content).map_err(io(&host))?;
        let target = merged.join(&mounts.etc).join(name);
        etc_binds.push((cpath(&host)?, cpath(&target)?));
    }
    let mut lowers: Vec<PathBuf> = mounts.init.iter().cloned().collect();
    lowers.extend(request.lowers.iter().cloned());
    if lowers.is_empty() {
        // Overlay needs at least one lower dir: `FROM scratch` gets an empty one.
        let empty = scratch.join("empty");
        fs::create_dir_all(&empty).map_err(io(&empty))?;
        lowers.push(empty);
    }
    let (legacy_dir, legacy_options) = legacy_options(&lowers, request, scratch)?;
    let userns = in_user_namespace();
    let dev = merged.join("dev");
    let dev_stage = scratch.join("devices");
    fs::create_dir_all(&dev_stage).map_err(io(&dev_stage))?;
    // In a user namespace no device can be made: the host's own nodes are bound instead, as
    // rootless podman does (binds keep the host mount's flags, so they stay openable).
    let node_dir = if userns {
        Path::new("/dev")
    } else {
        dev_stage.as_path()
    };
    let devices = DEVICES
        .iter()
        .map(|(name, major, minor)| {
            Ok((
                cpath(&node_dir.join(name))?,
                cpath(&dev.join(name))?,
                *major,
                *minor,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let insecure = request.security == Security::Insecure;
    let in_merged = |paths: &[&str]| -> Result<Vec<CString>> {
        if insecure {
            return Ok(Vec::new());
        }
        paths.iter().map(|p| cpath(&merged.join(p))).collect()
    };
    let dev_links = [
        ("pts/ptmx", "ptmx"),
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ]
    .iter()
    .map(|(target, name)| Ok((c(target)?, cpath(&dev.join(name))?)))
    .collect::<Result<Vec<_>>>()?;
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
        cwd_prefixes.push(c(&prefix)?);
    }
    let mut env = request.env.to_vec();
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push((
            "HOME".into(),
            identity.home.clone().unwrap_or_else(|| "/".into()),
        ));
    }
    Ok(Plan {
        lowers: lowers.iter().map(|p| cpath(p)).collect::<Result<_>>()?,
        upper: cpath(request.upper)?,
        work: cpath(request.work)?,
        legacy_options: c(legacy_options)?,
        legacy_dir: legacy_dir.map(|d| cpath(&d)).transpose()?,
        legacy_only: false,
        userns,
        setgroups: setgroups_allowed(),
        // SAFETY: getpid has no preconditions.
        parent_pid: unsafe { libc::getpid() },
        proc_dir: cpath(&merged.join("proc"))?,
        dev_dir: cpath(&dev)?,
        sys_dir: cpath(&merged.join("sys"))?,
        etc_binds,
        dev_stage: cpath(&dev_stage)?,
        devices,
        dev_pts: cpath(&dev.join("pts"))?,
        dev_null: cpath(&dev.join("null"))?,
        masked: in_merged(&MASKED_PATHS)?,
        read_only: in_merged(&READ_ONLY_PATHS)?,
        dev_shm: cpath(&dev.join("shm"))?,
        dev_links,
        cwd_prefixes,
        cwd: c(cwd)?,
        hostname: c(hostname)?,
        network_none: request.network == Network::None,
        netns: network.netns,
        insecure,
        seccomp: if insecure {
            None
        } else {
            Some(seccomp::docker_default()?)
        },
        identity,
        argv: request.argv.to_vec(),
        env,
        mounts: extra
            .iter()
            .map(|m| mount_plan(m, &merged))
            .collect::<Result<_>>()?,
        merged: cpath(&merged)?,
        own_session: false,
        console_socket: None,
        console_size: None,
        ptmx: cpath(&dev.join("pts/ptmx"))?,
        read_only_root: false,
    })
}

/// The overlay option string for kernels without `lowerdir+`. Absolute paths when they fit in
/// a page; otherwise short symlinks `l/0`, `l/1`, … to every lower dir (overlay resolves them
/// at mount time) and paths relative to `l/`, where the child `chdir`s first — about four bytes
/// per layer, so even 500 layers fit.
fn legacy_options(
    lowers: &[PathBuf],
    request: &RunRequest<'_>,
    scratch: &Path,
) -> Result<(Option<PathBuf>, String)> {
    let options = |lowers: &[String], upper: &Path, work: &Path| {
        format!(
            "lowerdir={},upperdir={},workdir={},{}",
            lowers.join(":"),
            upper.display(),
            work.display(),
            overlay_features()
        )
    };
    let absolute: Vec<String> = lowers
        .iter()
        .map(|p| escape(&p.display().to_string()))
        .collect();
    let text = options(&absolute, request.upper, request.work);
    if text.len() <= MAX_MOUNT_OPTIONS {
        return Ok((None, text));
    }
    let links = scratch.join("l");
    fs::create_dir_all(&links).map_err(io(&links))?;
    let mut short = Vec::with_capacity(lowers.len());
    for (n, lower) in lowers.iter().enumerate() {
        let link = links.join(n.to_string());
        std::os::unix::fs::symlink(lower, &link).map_err(io(&link))?;
        short.push(n.to_string());
    }
    for (name, target) in [("u", request.upper), ("w", request.work)] {
        let link = links.join(name);
        std::os::unix::fs::symlink(target, &link).map_err(io(&link))?;
    }
    Ok((Some(links), options(&short, Path::new("u"), Path::new("w"))))
}

/// The overlay features every mount turns off (an index, metadata-only copy-ups and rename
/// redirects would all leave things in upper dirs that a layer cannot say). In a user
/// namespace overlay keeps its xattrs under `user.overlay.*` (`userxattr`), which already
/// rules out redirects: naming `redirect_dir` there is refused as a conflict.
pub fn overlay_features() -> &'static str {
    if in_user_namespace() {
        "index=off,metacopy=off,userxattr"
    } else {
        "index=off,metacopy=off,redirect_dir=off"
    }
}

/// Whether this process may call `setgroups`: not after a single-id user namespace mapping,
/// which must deny it (`/proc/self/setgroups`).
fn setgroups_allowed() -> bool {
    fs::read_to_string("/proc/self/setgroups").map_or(true, |state| state.trim() != "deny")
}

/// Escapes the characters overlay's option parser splits on.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for ch in path.chars() {
        if matches!(ch, ':' | ',' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
#[path = "prepare_tests.rs"]
mod tests;
