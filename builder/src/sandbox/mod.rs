//! Running RUN steps: the [`Executor`] seam between the scheduler and the sandbox, the native
//! Linux sandbox behind it ([`NativeSandbox`]), and a recording fake for scheduler tests.
//!
//! A run gets a root filesystem made of an overlay — the parent's snapshots as lower dirs, a
//! fresh upper dir, a work dir — and after the command exits the upper dir holds exactly what
//! it changed: the layer. See `native.rs` for how the sandbox is built.

mod child;
mod fake;
mod native;
mod prepare;
mod stubs;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use fake::{RecordedRun, RecordingExecutor};
pub use native::{sandbox_available, NativeSandbox, MAX_LOWER_DIRS};

use crate::error::Result;
use crate::progress::Stream;

/// Network access for a RUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Share the host's network (docker build's default, so package managers work).
    Host,
    /// A fresh network namespace with only loopback.
    None,
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
    /// The parent image's snapshot dirs, topmost first.
    pub lowers: &'a [PathBuf],
    /// The empty upper dir that receives the changes.
    pub upper: &'a Path,
    /// The overlay work dir: empty, on the same filesystem as `upper`.
    pub work: &'a Path,
}

/// Receives the command's output as it arrives.
pub type OutputSink<'a> = &'a (dyn Fn(Stream, &[u8]) + Sync);

/// Runs commands for the scheduler (the sandbox, or a fake in tests).
pub trait Executor: Sync {
    /// Runs the command; a non-zero exit is [`crate::Error::CommandFailed`].
    fn run(&self, request: &RunRequest<'_>, output: OutputSink<'_>) -> Result<()>;
}
