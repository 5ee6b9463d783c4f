//! The registry client a command uses: insecure registries and the timeout from the global
//! flags, docker's credentials, retry notices on stderr.

use std::sync::Arc;

use strata_oci::registry::{AuthSource, Registry, RegistryOptions, Timeouts};

use crate::Global;

/// A registry client for the global options.
pub fn client(global: &Global) -> anyhow::Result<Registry> {
    let timeout = strata_cache::parse_timeout(&global.registry_timeout)
        .map_err(|e| anyhow::anyhow!("--registry-timeout: {e}"))?;
    if timeout.is_zero() {
        anyhow::bail!("--registry-timeout: must be at least 1s");
    }
    Ok(Registry::new(RegistryOptions {
        insecure: global.insecure_registry.clone(),
        auth: AuthSource::Default,
        retry: Default::default(),
        timeouts: Timeouts::per_attempt(timeout),
        notify: Some(Arc::new(|line: &str| eprintln!("warning: {line}"))),
    })?)
}

/// Progress lines of a pull or push on stderr, none with `-q`.
pub fn progress(quiet: bool) -> impl Fn(&str) {
    move |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    }
}
