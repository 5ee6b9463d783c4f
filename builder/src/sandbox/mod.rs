//! Running RUN steps: the [`Executor`] seam between the scheduler and the sandbox, the native
//! Linux sandbox behind it ([`NativeSandbox`]), and a recording fake for scheduler tests.
//!
//! A run gets a root filesystem made of an overlay — the parent's snapshots as lower dirs, a
//! fresh upper dir, a work dir — and after the command exits the upper dir holds exactly what
//! it changed: the layer. See `native.rs` for how the sandbox is built.

mod child;
pub mod chroot;
mod confine;
mod fake;
pub mod isolation;
mod native;
mod network;
mod opaque;
mod prepare;
mod probe;
pub mod rootless;
pub mod seccomp;
mod session;
mod stubs;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use chroot::ChrootExecutor;
pub use fake::{RecordedRun, RecordingExecutor};
pub use isolation::{choose, Chosen, Environment, Isolation, Problem};
pub use native::{
    hold_forwarded_signals, sandbox_available, NativeSandbox, Session, Started, MAX_LOWER_DIRS,
};
pub use network::{find_program, tun_usable, BuildNetwork};
pub use probe::Refused;

use crate::error::Result;
use crate::progress::Stream;

/// Network access for a RUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The build's own network namespace with outbound access (docker build's default): the
    /// host's loopback services and traffic are out of reach (see `network.rs`).
    Sandbox,
    /// Share the host's network (`--network host`, which needs the `network.host`
    /// entitlement).
    Host,
    /// A fresh network namespace with only loopback.
    None,
}

impl Network {
    /// The mode a Dockerfile or the command line names: `default` (or `sandbox`), `host`,
    /// `none`.
    pub fn parse(mode: &str) -> Option<Network> {
        match mode {
            "default" | "sandbox" | "" => Some(Network::Sandbox),
            "host" => Some(Network::Host),
            "none" => Some(Network::None),
            _ => None,
        }
    }
}

/// How much of the sandbox's confinement a RUN keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// docker's defaults: its capability set, its seccomp profile, only its device set
    /// openable, masked and read-only `/proc` paths.
    Sandbox,
    /// `RUN --security=insecure` (needs the `security.insecure` entitlement): every
    /// capability, no seccomp filter, no masked paths, device nodes openable — as BuildKit's
    /// insecure mode, for steps that must mount or load kernel state.
    Insecure,
}

impl Security {
    /// The mode a Dockerfile names: `sandbox` or `insecure`.
    pub fn parse(mode: &str) -> Option<Security> {
        match mode {
            "sandbox" | "" => Some(Security::Sandbox),
            "insecure" => Some(Security::Insecure),
            _ => None,
        }
    }
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct RunRequest<'a> {
    /// The command vector.
    pub argv: &'a [String],
    /// Its environment.
    pub env: &'a [(String, String)],
    /// Working directory inside the container (created if missing, as docker does).
    pub cwd: &'a str,
    /// `USER` spec (`name`, `uid`, `uid:gid`, `name:group`), empty for root; resolved through
    /// the image's `/etc/passwd` and `/etc/group`.
    pub user: &'a str,
    /// Network mode.
    pub network: Network,
    /// Confinement.
    pub security: Security,
    /// The parent image's snapshot dirs, topmost first.
    pub lowers: &'a [PathBuf],
    /// The empty upper dir that receives the changes.
    pub upper: &'a Path,
    /// The overlay work dir: empty, on the same filesystem as `upper`.
    pub work: &'a Path,
    /// Extra filesystems the command sees (`RUN --mount`, heredoc scripts); none of them, nor
    /// their mount points, end up in the layer.
    pub mounts: &'a [ExtraMount],
}

/// One extra filesystem in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMount {
    /// Absolute path in the container. Symlinks in it resolve inside the image.
    pub target: String,
    /// What appears there.
    pub source: MountFrom,
    /// Mounted read-only.
    pub readonly: bool,
}

/// What an [`ExtraMount`] shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountFrom {
    /// A host directory or file, bound as it is: writes reach it (a cache mount's directory),
    /// unless the mount is read-only.
    Host(PathBuf),
    /// `path` inside a layered filesystem (snapshot dirs, topmost first): writes go to a
    /// throwaway upper dir and are discarded after the run, as BuildKit's `type=bind,rw`.
    Layers {
        /// The layers, topmost first; empty for an empty filesystem.
        lowers: Vec<PathBuf>,
        /// Absolute path inside them.
        path: String,
    },
    /// An empty tmpfs, at most `size` bytes when given.
    Tmpfs {
        /// Size limit in bytes.
        size: Option<u64>,
    },
}

/// Receives the command's output as it arrives.
pub type OutputSink<'a> = &'a (dyn Fn(Stream, &[u8]) + Sync);

/// Runs commands for the scheduler (the sandbox, or a fake in tests).
pub trait Executor: Sync {
    /// Runs the command; a non-zero exit is [`crate::Error::CommandFailed`].
    fn run(&self, request: &RunRequest<'_>, output: OutputSink<'_>) -> Result<()>;
}
