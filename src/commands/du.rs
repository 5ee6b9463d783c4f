//! `strata du`: what the store holds, by kind, and what `prune --all` could reclaim.

use std::process::ExitCode;

use strata_cache::gc::usage;

use crate::store::{human_size, open};
use crate::Global;

/// Arguments of `strata du`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long, value_name = "FORMAT", value_parser = ["table", "json"], default_value = "table")]
    pub format: String,
}

/// Runs `strata du`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let store = open(global)?;
    let usage = usage(&store)?;
    if args.format == "json" {
        let json = serde_json::json!({
            "root": store.root(),
            "blobs": {"count": usage.blobs.0, "bytes": usage.blobs.1},
            "snapshots": {"count": usage.snapshots.0, "bytes": usage.snapshots.1},
            "index": {"bytes": usage.index_bytes},
            "cache_entries": usage.cache_entries,
            "tags": usage.tags,
            "reclaimable": usage.reclaimable,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<12}{:>8}{:>12}", "KIND", "COUNT", "SIZE");
    println!(
        "{:<12}{:>8}{:>12}",
        "blobs",
        usage.blobs.0,
        human_size(usage.blobs.1)
    );
    println!(
        "{:<12}{:>8}{:>12}",
        "snapshots",
        usage.snapshots.0,
        human_size(usage.snapshots.1)
    );
    println!(
        "{:<12}{:>8}{:>12}",
        "index",
        "",
        human_size(usage.index_bytes)
    );
    println!("{:<12}{:>8}{:>12}", "cache", usage.cache_entries, "");
    println!("{:<12}{:>8}{:>12}", "tags", usage.tags, "");
    println!("Reclaimable: {}", human_size(usage.reclaimable));
    Ok(ExitCode::SUCCESS)
}
