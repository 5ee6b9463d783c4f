//! `strata rmi`: remove image names. The data goes at the next `strata prune`, once nothing
//! names it.

use std::process::ExitCode;

use strata_cache::Store;
use strata_oci::image::{self, reference::Reference};

use crate::Global;

/// Arguments of `strata rmi`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove every name of an image given by ID even if it has several.
    #[arg(short, long)]
    pub force: bool,
    /// Names, `name@digest`s or image IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Removes one argument's names; returns what it printed.
fn remove(store: &Store, reference: &str, force: bool) -> anyhow::Result<Vec<String>> {
    // A name removes just that name, as docker's `rmi name:tag`.
    if let Ok(parsed) = Reference::parse(reference) {
        if parsed.digest.is_none() && store.index().remove_tag(&parsed.key())? {
            return Ok(vec![format!("Untagged: {}", parsed.key())]);
        }
    }
    let found = image::find(store, reference)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{reference}`"))?;
    let names = image::names_of(store, &found.manifest)?;
    if names.len() > 1 && !force {
        anyhow::bail!(
            "conflict: unable to delete {} (must be forced): image is referenced in multiple repositories ({})",
            &found.id.hex()[..12],
            names.join(", ")
        );
    }
    let mut lines: Vec<String> = image::forget(store, &found.manifest)?
        .into_iter()
        .map(|n| format!("Untagged: {n}"))
        .collect();
    if names.is_empty() {
        // An untagged image: gone from the list now, its data at the next prune.
        lines.push(format!("Deleted: {}", found.id));
    }
    Ok(lines)
}

/// Runs `strata rmi`: every argument is tried; the exit code says whether all worked.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(global)?;
    let mut failed = false;
    for reference in &args.images {
        match remove(&store, reference, args.force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    store.index().flush()?;
    Ok(if failed {
        ExitCode::from(crate::exit::USER_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}
