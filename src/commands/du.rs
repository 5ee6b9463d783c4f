//! `strata du`: what the store holds, by kind, and what `strata prune` could reclaim.

use std::process::ExitCode;

use strata_cache::gc::usage;

use crate::render::units::human_size;
use crate::store::open;
use crate::Global;

/// What `du --help` says after the options: how to read the table.
const AFTER_HELP: &str = "\
Rows: blobs (manifests, configs, compressed layers), snapshots (unpacked layers), the index
database (with the record of where pushed blobs were seen), the writable layers of containers `strata run` kept, `RUN --mount=type=cache`
directories (only `strata prune --all` removes them), and the build cache: the part of the blobs and snapshots that only cache entries hold
on to (not a separate pile, do not add it to the others). RECLAIMABLE is what `strata prune`
would free; --all frees the same bytes (it drops more cache entries, but the layers tagged
images use stay either way).";

/// Arguments of `strata du`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Output format: `table` or `json`.
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
            "blobs": {
                "count": usage.blobs.0,
                "bytes": usage.blobs.1,
                "reclaimable": usage.reclaimable_blobs,
            },
            "snapshots": {
                "count": usage.snapshots.0,
                "bytes": usage.snapshots.1,
                "reclaimable": usage.reclaimable_snapshots,
            },
            "index": {"bytes": usage.index_bytes},
            "build_cache": {"entries": usage.cache_entries, "bytes": usage.cache_bytes},
            "tags": usage.tags,
            "containers": {
                "count": usage.containers.0,
                "bytes": usage.containers.1,
                "reclaimable": usage.reclaimable_containers,
            },
            "cache_mounts": {"count": usage.cache_mounts.0, "bytes": usage.cache_mounts.1},
            "reclaimable": usage.reclaimable,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    let row = |kind: &str, count: String, size: String, reclaimable: String| {
        let line = format!("{kind:<12}{count:>8}{size:>12}{reclaimable:>13}");
        println!("{}", line.trim_end());
    };
    let none = String::new;
    row("KIND", "COUNT".into(), "SIZE".into(), "RECLAIMABLE".into());
    row(
        "blobs",
        usage.blobs.0.to_string(),
        human_size(usage.blobs.1),
        human_size(usage.reclaimable_blobs),
    );
    row(
        "snapshots",
        usage.snapshots.0.to_string(),
        human_size(usage.snapshots.1),
        human_size(usage.reclaimable_snapshots),
    );
    row("index", none(), human_size(usage.index_bytes), none());
    row(
        "build cache",
        usage.cache_entries.to_string(),
        human_size(usage.cache_bytes),
        human_size(usage.cache_bytes),
    );
    row("tags", usage.tags.to_string(), none(), none());
    row(
        "containers",
        usage.containers.0.to_string(),
        human_size(usage.containers.1),
        human_size(usage.reclaimable_containers),
    );
    row(
        "cache mounts",
        usage.cache_mounts.0.to_string(),
        human_size(usage.cache_mounts.1),
        none(),
    );
    println!("Reclaimable: {}", human_size(usage.reclaimable));
    Ok(ExitCode::SUCCESS)
}
