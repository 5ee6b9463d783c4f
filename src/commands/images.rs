//! `strata images`, `strata tag`, `strata rmi`: listing and naming images in the store.

use std::process::ExitCode;

use serde_json::json;
use strata_builder::image::{
    self,
    reference::{normalize, validate_tag},
};

use crate::store::{human_size, open};
use crate::Global;

/// Arguments of `strata images`.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Only image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// `table` (default) or `json` (one object per line, as docker's `--format json`).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// Arguments of `strata tag`.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// The image to name.
    pub source: String,
    /// The new name.
    pub target: String,
}

/// Arguments of `strata rmi`.
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Names to remove (the data goes at the next `strata prune`).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Runs `strata images`.
pub fn images(global: &Global, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let store = open(global)?;
    let mut rows = Vec::new();
    for (name, manifest) in store.index().tags()? {
        let found = image::load(&store, &manifest)?;
        let size: u64 = found
            .diff_ids
            .iter()
            .filter_map(|d| store.index().layer(d).ok().flatten())
            .map(|r| r.size)
            .sum();
        let (repo, tag) = name.rsplit_once(':').unwrap_or((&name, "latest"));
        let created = found.config["created"].as_str().unwrap_or("").to_string();
        rows.push((repo.to_string(), tag.to_string(), found.id, created, size));
    }
    if args.quiet {
        for (_, _, id, _, _) in &rows {
            println!("{}", &id.hex()[..12]);
        }
    } else if args.format == "json" {
        for (repo, tag, id, created, size) in &rows {
            let line = json!({"Repository": repo, "Tag": tag, "ID": &id.hex()[..12], "CreatedAt": created, "Size": human_size(*size)});
            println!("{line}");
        }
    } else {
        println!(
            "{:<40} {:<16} {:<14} {:<22} SIZE",
            "REPOSITORY", "TAG", "IMAGE ID", "CREATED"
        );
        for (repo, tag, id, created, size) in &rows {
            println!(
                "{repo:<40} {tag:<16} {:<14} {created:<22} {}",
                &id.hex()[..12],
                human_size(*size)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `strata tag`.
pub fn tag(global: &Global, args: TagArgs) -> anyhow::Result<ExitCode> {
    validate_tag(&args.target).map_err(|e| anyhow::anyhow!(e))?;
    let store = open(global)?;
    let found = image::find(&store, &args.source)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{}`", args.source))?;
    store
        .index()
        .put_tag(&normalize(&args.target), &found.manifest)?;
    store.index().flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `strata rmi`.
pub fn rmi(global: &Global, args: RmiArgs) -> anyhow::Result<ExitCode> {
    let store = open(global)?;
    for name in &args.images {
        let normalized = normalize(name);
        if !store.index().remove_tag(&normalized)? {
            anyhow::bail!("no such image: `{name}`");
        }
        println!("Untagged: {normalized}");
    }
    store.index().flush()?;
    Ok(ExitCode::SUCCESS)
}
