//! `strata load`: image tarballs into the store, from stdin or `-i FILE`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use strata_oci::archive::{load, load_file};

use crate::Global;

/// Arguments of `strata load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read from this file instead of stdin (a tar, or a gzip/zstd-compressed one).
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print nothing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `strata load`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("opening `{}`", path.display()))?;
            let store = crate::store::open(global)?;
            load_file(&store, &file).with_context(|| format!("loading `{}`", path.display()))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "requested load from stdin, but stdin is a terminal: use -i FILE or a pipe"
                );
            }
            let store = crate::store::open(global)?;
            load(&store, std::io::stdin().lock()).context("loading from stdin")?
        }
    };
    if !args.quiet {
        for image in loaded {
            if image.names.is_empty() {
                println!("Loaded image ID: {}", image.id);
            }
            for name in image.names {
                println!("Loaded image: {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
