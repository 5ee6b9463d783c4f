//! `strata build`: build an image from a Dockerfile and a context directory.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::Global;

/// Arguments of `strata build`, named as `docker build` names them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Name and optionally a tag (`name:tag`) for the image; may be repeated.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Path to the Dockerfile (`-` reads it from stdin). Default: CONTEXT/Dockerfile.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Build only up to this stage.
    #[arg(long)]
    pub target: Option<String>,
    /// Set a build-time variable (`K=V`, or `K` to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// The build context directory (`-` for a Dockerfile on stdin and no context).
    pub context: PathBuf,
}

/// Until the builder lands, `build` stops after the frontend and prints the build graph.
pub fn run(_global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("the builder is not wired in yet")
}
