//! `strata prune`: reclaim space from build cache and unreferenced blobs and snapshots.

use std::process::ExitCode;

use strata_cache::gc::{prune, PruneOptions};

use crate::render::units::human_size;
use crate::store::{open, parse_size};
use crate::Global;

/// What `prune --help` says after the options: the semantics, as `docker builder prune`.
const AFTER_HELP: &str = "\
Without --all, drops build cache that no tagged image uses (least recently used first), then
deletes every blob and snapshot that neither a tagged image nor a remaining cache entry reaches.
--all also drops the cache entries of steps whose layers tagged images use (the layers stay:
the images need them), the file-hash index, index data of older strata versions, the
directories of RUN --mount=type=cache and the record of where pushed blobs were seen.
--keep-storage sizes are docker's (10GB = 10 GiB). Tagged images are never removed: `rmi` first.";

/// Arguments of `strata prune` (as `docker builder prune`).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Remove all build cache, not just cache no tagged image uses.
    #[arg(short, long)]
    pub all: bool,
    /// Keep this much build cache (least recently used goes first), e.g. `10GB`.
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Only remove cache unused for this long: `until=24h`.
    #[arg(long, value_name = "until=DURATION")]
    pub filter: Vec<String>,
}

/// Runs `strata prune`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let mut options = PruneOptions {
        all: args.all,
        keep_storage: args
            .keep_storage
            .as_deref()
            .map(parse_size)
            .transpose()
            .map_err(|e| e.context("--keep-storage"))?,
        older_than: None,
    };
    for filter in &args.filter {
        let Some(duration) = filter.strip_prefix("until=") else {
            anyhow::bail!("unsupported filter `{filter}` (supported: until=DURATION)");
        };
        let seconds = strata_cache::parse_timeout(duration)
            .map_err(|e| anyhow::anyhow!("--filter `{filter}`: {e}"))?;
        options.older_than = Some(i64::try_from(seconds.as_secs()).unwrap_or(i64::MAX));
    }
    let store = open(global)?;
    let report = prune(&store, &options, strata_cache::now())?;
    println!(
        "Deleted {} cache entries, {} snapshots, {} blobs, {} cache mounts, {} stopped containers",
        report.cache_entries,
        report.snapshots,
        report.blobs,
        report.cache_mounts,
        report.containers
    );
    println!("Total reclaimed space: {}", human_size(report.bytes));
    Ok(ExitCode::SUCCESS)
}
