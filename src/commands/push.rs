//! `strata push REF`: an image from the store to a registry.

use std::process::ExitCode;

use strata_oci::registry::{push, PushOptions, Remote};
use strata_oci::Compression;

use crate::Global;

/// Arguments of `strata push`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image to push, named as in the store: `host[:port]/path/name[:tag]` (tag it first
    /// with `strata tag`).
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Layer compression: `gzip` (default, what every registry client reads) or `zstd`.
    #[arg(long, value_name = "ALGORITHM", default_value = "gzip")]
    pub compression: String,
    /// Print only the digest line, no progress.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `strata push`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let compression = match args.compression.as_str() {
        "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        other => anyhow::bail!("--compression: unknown algorithm `{other}` (gzip or zstd)"),
    };
    let remote = Remote::parse(&args.reference)?;
    let registry = crate::registry::client(global)?;
    let store = crate::store::open(global)?;
    let progress = crate::registry::progress(args.quiet);
    let pushed = push(
        &store,
        &registry,
        &remote,
        &PushOptions {
            compression,
            parallel: 0,
        },
        &progress,
    )?;
    println!(
        "{}: digest: {} size: {}",
        remote.tag.as_deref().unwrap_or("latest"),
        pushed.digest,
        pushed.size
    );
    Ok(ExitCode::SUCCESS)
}
