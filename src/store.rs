//! Opening the store for a command: the root from `--root`/`STRATA_ROOT` or the default, the
//! lock timeout, the one line printed while another strata holds the root, and a warning for
//! each thing opening repaired.

use std::path::PathBuf;

use anyhow::Context as _;
use strata_cache::{parse_timeout, OpenOptions, Store};

use crate::Global;

/// `/var/lib/strata` as root, `$XDG_DATA_HOME/strata` (or `~/.local/share/strata`) otherwise.
pub fn default_root() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/strata");
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(data) => PathBuf::from(data).join("strata"),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/share/strata"),
    }
}

/// Opens the store the global options name, waiting for the lock if needed.
pub fn open(global: &Global) -> anyhow::Result<Store> {
    let root = global.root.clone().unwrap_or_else(default_root);
    let timeout =
        parse_timeout(&global.lock_timeout).map_err(|e| anyhow::anyhow!("--lock-timeout: {e}"))?;
    let on_wait = |root: &std::path::Path| {
        eprintln!(
            "waiting for the lock on `{}` held by another strata process (up to {})",
            root.display(),
            global.lock_timeout
        );
    };
    let store = Store::open(
        &root,
        &OpenOptions {
            lock_timeout: timeout,
            on_wait: &on_wait,
        },
    )
    .with_context(|| format!("opening the store at `{}`", root.display()))?;
    for repair in store.repairs() {
        eprintln!("warning: {repair}");
    }
    Ok(store)
}

/// Parses sizes as docker's `--keep-storage` does (go-units `RAMInBytes`: `10GB` is 10 GiB,
/// a plain number is bytes).
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    strata_frontend::units::ram_in_bytes(text.trim())
        .ok_or_else(|| anyhow::anyhow!("invalid size `{text}` (use e.g. 512MB, 10GB)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("10GB").unwrap(), 10 << 30);
        assert_eq!(parse_size("512mb").unwrap(), 512 << 20);
        assert_eq!(parse_size("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("2k").unwrap(), 2048);
        assert_eq!(parse_size("42").unwrap(), 42);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in ["ten", "", "GB", "-1GB", "5x", "5 gigabytes", "1e9"] {
            let err = parse_size(bad).unwrap_err().to_string();
            assert!(err.contains("invalid size"), "{bad:?}: {err}");
        }
    }
}
