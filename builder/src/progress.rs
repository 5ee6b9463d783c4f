//! Progress events: the builder says what happens, the CLI decides how to show it (plain lines
//! for CI logs, a live view on a terminal, nothing with `--quiet`).

use std::time::Duration;

/// Identifies a step in a build's progress stream (numbered in the order steps start).
pub type StepId = usize;

/// Which output stream a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
}

/// One thing that happened during a build.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A step began, e.g. `[build 2/5] RUN make`.
    Started {
        /// The step.
        id: StepId,
        /// Its display name.
        name: &'a str,
    },
    /// Output of a running step, as it arrives (may hold partial lines).
    Log {
        /// The step.
        id: StepId,
        /// Stdout or stderr.
        stream: Stream,
        /// The bytes.
        data: &'a [u8],
        /// Time since the step started (BuildKit prints it before each line).
        elapsed: Duration,
    },
    /// A step was answered from the cache.
    Cached {
        /// The step.
        id: StepId,
    },
    /// A step ran and finished.
    Done {
        /// The step.
        id: StepId,
        /// How long it took.
        elapsed: Duration,
    },
    /// A step failed; the build's error carries the details.
    Failed {
        /// The step.
        id: StepId,
        /// A one-line reason.
        message: &'a str,
    },
    /// Something the user should know that does not stop the build (a cache that could not
    /// be read or written); shown even with `--quiet`.
    Warning {
        /// The text, without a `WARNING:` prefix.
        message: &'a str,
    },
    /// A note that is not about one step (warnings, `naming to …`).
    Note {
        /// The text.
        message: &'a str,
    },
}

/// Receives progress events; called from several threads when stages run in parallel.
pub trait Progress: Sync {
    /// Handles one event.
    fn event(&self, event: Event<'_>);
}

/// Drops every event (library callers and tests that don't watch).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event<'_>) {}
}
