//! `strata prune`: reclaim space from build cache and unreferenced blobs and snapshots.

use std::process::ExitCode;

use anyhow::Context as _;
use strata_cache::gc::{prune, PruneOptions};

use crate::render::units::human_size;
use crate::store::{open, parse_size};
use crate::Global;

/// What `prune --help` says after the options: the semantics, as `docker builder prune`.
const AFTER_HELP: &str = "\
Without --all, drops build cache that no tagged image uses (least recently used first), then
deletes every blob and snapshot that neither a tagged image nor a remaining cache entry reaches.
--all also drops the cache entries of steps whose layers tagged images use (the layers stay:
the images need them), the file-hash index, index data of older strata versions and the
directories of RUN --mount=type=cache.
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
    let mut bytes = report.bytes;
    let mut cache_mounts = 0;
    if args.all {
        (cache_mounts, bytes) = remove_cache_mounts(&store.cache_mounts_dir(), bytes)?;
    }
    println!(
        "Deleted {} cache entries, {} snapshots, {} blobs, {} cache mounts, {} stopped containers",
        report.cache_entries, report.snapshots, report.blobs, cache_mounts, report.containers
    );
    println!("Total reclaimed space: {}", human_size(bytes));
    Ok(ExitCode::SUCCESS)
}

/// Deletes every `RUN --mount=type=cache` directory (no build runs: the store is locked);
/// returns how many went and the reclaimed total.
fn remove_cache_mounts(dir: &std::path::Path, mut bytes: u64) -> anyhow::Result<(usize, u64)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, bytes)),
        Err(e) => return Err(e).with_context(|| format!("reading `{}`", dir.display())),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading `{}`", dir.display()))?
            .path();
        bytes += walkdir::WalkDir::new(&path)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum::<u64>();
        strata_cache::remove_tree(&path)
            .with_context(|| format!("removing `{}`", path.display()))?;
        removed += 1;
    }
    Ok((removed, bytes))
}
