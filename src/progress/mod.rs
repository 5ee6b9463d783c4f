//! Rendering the builder's progress events: `--progress auto|tty|plain|quiet|rawjson`.
//!
//! `plain` (the default when stderr is not a terminal, i.e. in CI logs) prints BuildKit-style
//! numbered lines; `tty` keeps a live line per running step with its timer; `quiet` prints
//! nothing but warnings (errors still reach stderr through the error report); `rawjson` prints
//! BuildKit's SolveStatus JSON lines for programs.

mod plain;
mod rawjson;
mod tty;

use std::io::IsTerminal;

use strata_builder::progress::{Event, Progress};

pub use plain::Plain;
pub use rawjson::RawJson;
pub use tty::Tty;

/// The `--progress` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// `tty` on a terminal, `plain` otherwise.
    Auto,
    /// Live view with timers.
    Tty,
    /// One line per event, for logs.
    Plain,
    /// Nothing but warnings and errors.
    Quiet,
    /// BuildKit's SolveStatus JSON lines (`docker buildx build --progress rawjson`).
    #[value(name = "rawjson")]
    RawJson,
}

/// Picks the renderer for a mode.
pub fn renderer(mode: Mode) -> Box<dyn Progress> {
    let mode = match mode {
        Mode::Auto if std::io::stderr().is_terminal() => Mode::Tty,
        Mode::Auto => Mode::Plain,
        other => other,
    };
    match mode {
        Mode::Tty => Box::new(Tty::new()),
        Mode::Plain => Box::new(Plain::new(std::io::stderr())),
        Mode::RawJson => Box::new(RawJson::new(std::io::stderr())),
        Mode::Quiet | Mode::Auto => Box::new(WarningsOnly),
    }
}

/// `--quiet`: warnings (a cache that could not be used) still reach stderr.
struct WarningsOnly;

impl Progress for WarningsOnly {
    fn event(&self, event: Event<'_>) {
        if let Event::Warning { message } = event {
            eprintln!("WARNING: {message}");
        }
    }
}
