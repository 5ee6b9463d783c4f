//! `strata pull REF`: an image from a registry into the store.

use std::process::ExitCode;

use strata_oci::registry::{pull, PullOptions, Remote};

use crate::Global;

/// Arguments of `strata pull`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `name[:tag]`, `host[:port]/path/name[:tag]` or `name@sha256:…`.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The platform to pick from a multi-platform image (`os/arch[/variant]`).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Print only the image reference, no progress.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `strata pull`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let remote = Remote::parse(&args.reference)?;
    let registry = crate::registry::client(global)?;
    let store = crate::store::open(global)?;
    let progress = crate::registry::progress(args.quiet);
    pull(
        &store,
        &registry,
        &remote,
        &PullOptions {
            platform: args.platform,
            parallel: 0,
        },
        &progress,
    )?;
    println!("{}", full(&remote));
    Ok(ExitCode::SUCCESS)
}

/// `docker.io/library/busybox:latest` for Hub images, as docker prints after a pull.
fn full(remote: &Remote) -> String {
    let mut text = if remote.registry == strata_oci::registry::DOCKER_HUB {
        format!("docker.io/{}", remote.repository)
    } else {
        remote.location()
    };
    if let Some(tag) = &remote.tag {
        text.push(':');
        text.push_str(tag);
    }
    if let Some(digest) = &remote.digest {
        text.push('@');
        text.push_str(&digest.to_string());
    }
    text
}
