//! `strata commit`: an image of a container — its image plus one layer holding what the
//! container changed — as `docker commit` (run a shell, change things, commit).

use std::process::ExitCode;

use strata_builder::container;
use strata_oci::image::{
    self,
    reference::{normalize, validate_tag},
};

use crate::Global;

/// Arguments of `strata commit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A commit message (the new history entry's comment).
    #[arg(short, long)]
    pub message: Option<String>,
    /// The container (name, ID or unique ID prefix).
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The new image's name, `name[:tag]` (untagged when left out).
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
}

/// Runs `strata commit`; prints the new image's ID.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.image {
        validate_tag(name)?;
    }
    let store = crate::store::open(global)?;
    let record = store
        .containers()
        .find(&args.container)?
        .ok_or_else(|| anyhow::anyhow!("no such container: `{}`", args.container))?;
    let upper = store.containers().path(&record.id).join("upper");
    let made = container::commit(&store, &record, &upper, args.message.as_deref())?;
    match &args.image {
        Some(name) => image::name(&store, &normalize(name), &made.manifest)?,
        None => image::keep_untagged(&store, &made.manifest)?,
    }
    store.index().flush()?;
    println!("{}", made.id);
    Ok(ExitCode::SUCCESS)
}
