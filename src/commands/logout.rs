//! `strata logout [SERVER]`: removes a registry's credentials from docker's config file (and
//! its credential helper).

use std::process::ExitCode;

use strata_oci::registry::auth;

use crate::Global;

/// Arguments of `strata logout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry (`host[:port]`); Docker Hub when omitted.
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// Runs `strata logout`.
pub fn run(_global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let registry = super::login::server_of(args.server.as_deref());
    let key = auth::config_key(&registry);
    if auth::erase(&auth::docker_config_dir(), &registry)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(ExitCode::SUCCESS)
}
