//! A fake executor that records what it was asked to run and lets the test decide what the
//! "command" changes — so scheduler tests are honest without namespaces or root.

use std::path::Path;
use std::sync::Mutex;

use super::{Executor, OutputSink, RunRequest};
use crate::error::Result;

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
    /// How many lower dirs the overlay had.
    pub lowers: usize,
}

type Action = dyn Fn(&RecordedRun, &Path) -> Result<()> + Sync + Send;

/// Records every run; `action` plays the command by writing into the upper dir.
pub struct RecordingExecutor {
    calls: Mutex<Vec<RecordedRun>>,
    action: Box<Action>,
}

impl RecordingExecutor {
    /// A fake whose commands do what `action` does to the upper dir.
    pub fn new(action: impl Fn(&RecordedRun, &Path) -> Result<()> + Sync + Send + 'static) -> Self {
        RecordingExecutor {
            calls: Mutex::new(Vec::new()),
            action: Box::new(action),
        }
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<RecordedRun> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Executor for RecordingExecutor {
    fn run(&self, request: &RunRequest<'_>, _output: OutputSink<'_>) -> Result<()> {
        let call = RecordedRun {
            argv: request.argv.to_vec(),
            env: request.env.to_vec(),
            cwd: request.cwd.to_string(),
            user: request.user.to_string(),
            lowers: request.lowers.len(),
        };
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call.clone());
        (self.action)(&call, request.upper)
    }
}
