//! `strata debug`: what the frontend makes of a Dockerfile (AST dump, build graph).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::Global;

/// The `debug` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the parser's AST in BuildKit's dump format, one instruction a line.
    Dump {
        /// The Dockerfile to read.
        dockerfile: PathBuf,
    },
}

/// Runs one `debug` subcommand.
pub fn run(_global: &Global, cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Dump { dockerfile } => {
            let _ = dockerfile;
            anyhow::bail!("not wired yet")
        }
    }
}
