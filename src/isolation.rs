//! Which sandbox runs RUN steps. `STRATA_ISOLATION` chooses (`auto`, the default;
//! `namespaces`; `chroot`); `auto` takes chroot isolation where the namespaces sandbox cannot
//! run: as root in an unprivileged container or pod, which refuses new namespaces and mounts.

use anyhow::bail;
use strata_builder::sandbox::chroot;

/// The isolation a build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Namespaces, an overlay root and `pivot_root` (root's default).
    Namespaces,
    /// A working root per stage and chroot, for where namespaces and mounts are refused; with
    /// why it was chosen.
    Chroot(&'static str),
}

/// Reads `STRATA_ISOLATION` (the one place it is read) and detects what `auto` means here.
pub fn choose() -> anyhow::Result<Isolation> {
    let asked = std::env::var("STRATA_ISOLATION").unwrap_or_default();
    Ok(match asked.as_str() {
        "" | "auto" => match chroot::required() {
            Some(why) => Isolation::Chroot(why),
            None => Isolation::Namespaces,
        },
        "namespaces" => Isolation::Namespaces,
        "chroot" => Isolation::Chroot("chosen with STRATA_ISOLATION=chroot"),
        other => bail!(
            "unknown isolation `{other}` in STRATA_ISOLATION: expected `auto`, `namespaces` or `chroot`"
        ),
    })
}
