//! `strata load`: image tarballs into the store, from stdin or `-i FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use strata_builder::archive::load;

use crate::Global;

/// Arguments of `strata load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read from this file instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print nothing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `strata load`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(global)?;
    let loaded = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("opening `{}`", path.display()))?;
            load(&store, file).with_context(|| format!("loading `{}`", path.display()))?
        }
        None => load(&store, std::io::stdin().lock()).context("loading from stdin")?,
    };
    if !args.quiet {
        for name in loaded {
            if name.starts_with("sha256:") {
                println!("Loaded image ID: {name}");
            } else {
                println!("Loaded image: {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
