//! Everything the sandbox child needs, computed before the fork: after `fork` in a threaded
//! program only async-signal-safe calls are allowed — no allocation — so every path, option
//! string and id is turned into C strings and numbers here.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Network, RunRequest};
use crate::error::{Error, Result};
use crate::rootfs::LayerStack;
use crate::users::{Identity, UserDb};

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
    pub etc_dir: CString,
    /// (host file, target in merged) for resolv.conf, hosts, hostname.
    pub etc_binds: Vec<(CString, CString)>,
    /// Device nodes to create in `/dev`: (path in merged, major, minor).
    pub devices: Vec<(CString, u32, u32)>,
    pub dev_pts: CString,
    pub dev_shm: CString,
    /// (target, link path) symlinks in `/dev`.
    pub dev_links: Vec<(CString, CString)>,
    /// Each prefix of the working directory, to `mkdir -p` it after `pivot_root`.
    pub cwd_prefixes: Vec<CString>,
    pub cwd: CString,
    pub hostname: CString,
    pub network_none: bool,
    pub identity: Identity,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
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

/// Builds the plan; `init` is the layer of missing mount points (on top of the image's),
/// `scratch` a private dir for the merged mount point and the etc files.
pub fn plan(
    request: &RunRequest<'_>,
    init: Option<&Path>,
    scratch: &Path,
    empty_lower: &Path,
) -> Result<Plan> {
    let image = LayerStack::new(request.lowers.to_vec());
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
    fs::create_dir_all(&merged).map_err(|e| Error::Io {
        path: merged.clone(),
        source: e,
    })?;
    let etc = scratch.join("etc");
    fs::create_dir_all(&etc).map_err(|e| Error::Io {
        path: etc.clone(),
        source: e,
    })?;
    let resolv = match request.network {
        Network::Host => fs::read("/etc/resolv.conf").unwrap_or_default(),
        Network::None => Vec::new(),
    };
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{HOSTNAME}\n"
    );
    let files: [(&str, Vec<u8>); 3] = [
        ("resolv.conf", resolv),
        ("hosts", hosts.into_bytes()),
        ("hostname", format!("{HOSTNAME}\n").into_bytes()),
    ];
    let mut etc_binds = Vec::new();
    for (name, content) in files {
        let host = etc.join(name);
        fs::write(&host, content).map_err(|e| Error::Io {
            path: host.clone(),
            source: e,
        })?;
        etc_binds.push((cpath(&host)?, cpath(&merged.join("etc").join(name))?));
    }
    let mut lowers: Vec<&Path> = init.into_iter().collect();
    lowers.extend(request.lowers.iter().map(|p| p.as_path()));
    if lowers.is_empty() {
        // Overlay needs at least one lower dir: `FROM scratch` gets an empty one.
        lowers.push(empty_lower);
    }
    let legacy = format!(
        "lowerdir={},upperdir={},workdir={},index=off,metacopy=off,redirect_dir=off",
        lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
        request.upper.display(),
        request.work.display()
    );
    let dev = merged.join("dev");
    let devices = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .iter()
    .map(|(name, major, minor)| Ok((cpath(&dev.join(name))?, *major, *minor)))
    .collect::<Result<Vec<_>>>()?;
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
        legacy_options: c(legacy)?,
        proc_dir: cpath(&merged.join("proc"))?,
        dev_dir: cpath(&dev)?,
        sys_dir: cpath(&merged.join("sys"))?,
        etc_dir: cpath(&merged.join("etc"))?,
        etc_binds,
        devices,
        dev_pts: cpath(&dev.join("pts"))?,
        dev_shm: cpath(&dev.join("shm"))?,
        dev_links,
        cwd_prefixes,
        cwd: c(cwd)?,
        hostname: c(HOSTNAME)?,
        network_none: request.network == Network::None,
        identity,
        argv: request.argv.to_vec(),
        env,
        merged: cpath(&merged)?,
    })
}
