//! `strata tag`: another name for an image.

use std::process::ExitCode;

use strata_oci::image::{
    self,
    reference::{normalize, validate_tag},
};

use crate::Global;

/// Arguments of `strata tag`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image to name (name, `name@digest` or ID).
    #[arg(value_name = "SOURCE_IMAGE")]
    pub source: String,
    /// The new name, `name[:tag]`.
    #[arg(value_name = "TARGET_IMAGE")]
    pub target: String,
}

/// Runs `strata tag`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    validate_tag(&args.target)?;
    let store = crate::store::open(global)?;
    let found = image::find(&store, &args.source)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{}`", args.source))?;
    image::name(&store, &normalize(&args.target), &found.manifest)?;
    store.index().flush()?;
    Ok(ExitCode::SUCCESS)
}
