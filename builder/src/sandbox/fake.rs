//! A fake executor that records what it was asked to run and lets the test decide what the
//! "command" changes and prints — so scheduler tests are honest without namespaces or root.
//!
//! ```
//! use strata_builder::sandbox::{Executor, Network, RecordingExecutor, RunRequest, Security};
//!
//! let fake = RecordingExecutor::new(|run, upper| {
//!     std::fs::write(upper.join("built"), run.argv.join(" ")).unwrap();
//!     Ok(())
//! })
//! .printing(b"compiling\n");
//! let (upper, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
//! let argv = vec!["make".to_string()];
//! let request = RunRequest {
//!     argv: &argv,
//!     env: &[],
//!     cwd: "/src",
//!     user: "",
//!     network: Network::None,
//!     security: Security::Sandbox,
//!     lowers: &[],
//!     upper: upper.path(),
//!     work: work.path(),
//!     mounts: &[],
//! };
//! fake.run(&request, &|_, _| {}).unwrap();
//! assert_eq!(fake.calls()[0].cwd, "/src");
//! assert_eq!(std::fs::read_to_string(upper.path().join("built")).unwrap(), "make");
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Executor, Network, OutputSink, RunRequest, Security};
use crate::error::Result;
use crate::progress::Stream;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRun {
    /// The command vector.
    pub argv: Vec<String>,
    /// The environment.
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: String,
    /// The user.
    pub user: String,
    /// The network mode.
    pub network: Network,
    /// The confinement.
    pub security: Security,
    /// The lower dirs, topmost first.
    pub lowers: Vec<PathBuf>,
}

type Action = dyn Fn(&RecordedRun, &Path) -> Result<()> + Sync + Send;

/// Records every run; `action` plays the command by writing into the upper dir (or failing).
pub struct RecordingExecutor {
    calls: Mutex<Vec<RecordedRun>>,
    action: Box<Action>,
    output: Vec<u8>,
}

impl RecordingExecutor {
    /// A fake whose commands do what `action` does to the upper dir.
    pub fn new(action: impl Fn(&RecordedRun, &Path) -> Result<()> + Sync + Send + 'static) -> Self {
        RecordingExecutor {
            calls: Mutex::new(Vec::new()),
            action: Box::new(action),
            output: Vec::new(),
        }
    }

    /// Every run also prints `text` on stdout, before the action runs (as a real command's
    /// output arrives before it exits).
    pub fn printing(mut self, text: &[u8]) -> Self {
        self.output = text.to_vec();
        self
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<RecordedRun> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Executor for RecordingExecutor {
    fn run(&self, request: &RunRequest<'_>, output: OutputSink<'_>) -> Result<()> {
        let call = RecordedRun {
            argv: request.argv.to_vec(),
            env: request.env.to_vec(),
            cwd: request.cwd.to_string(),
            user: request.user.to_string(),
            network: request.network,
            security: request.security,
            lowers: request.lowers.to_vec(),
        };
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call.clone());
        if !self.output.is_empty() {
            output(Stream::Stdout, &self.output);
        }
        (self.action)(&call, request.upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn records_calls_prints_and_fails_as_told() {
        let fake = RecordingExecutor::new(|run, _upper| {
            if run.argv[0] == "false" {
                return Err(Error::CommandFailed {
                    argv: run.argv.clone(),
                    code: 1,
                    signal: None,
                });
            }
            Ok(())
        })
        .printing(b"hi\n");
        let dirs = tempfile::tempdir().unwrap();
        let lowers = vec![dirs.path().join("l1"), dirs.path().join("l0")];
        let printed = Mutex::new(Vec::new());
        for program in ["true", "false"] {
            let argv = vec![program.to_string()];
            let env = vec![("A".to_string(), "1".to_string())];
            let request = RunRequest {
                argv: &argv,
                env: &env,
                cwd: "/w",
                user: "app",
                network: Network::Host,
                security: Security::Sandbox,
                lowers: &lowers,
                upper: dirs.path(),
                work: dirs.path(),
                mounts: &[],
            };
            let result = fake.run(&request, &|stream, data| {
                printed.lock().unwrap().push((stream, data.to_vec()))
            });
            assert_eq!(result.is_ok(), program == "true");
        }
        let calls = fake.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].argv, ["false"]);
        assert_eq!(calls[0].lowers, lowers);
        assert_eq!(calls[0].user, "app");
        assert_eq!(calls[0].network, Network::Host);
        assert_eq!(printed.into_inner().unwrap().len(), 2);
    }
}
