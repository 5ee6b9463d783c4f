//! `strata rm`: delete kept containers and their writable layers.

use std::process::ExitCode;

use crate::Global;

/// Arguments of `strata rm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Containers (names, IDs or unique ID prefixes).
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Runs `strata rm`: removes what it can, then fails if anything was missing or running
/// (docker's behaviour, so a script sees both).
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(global)?;
    let containers = store.containers();
    let mut failed = false;
    for name in &args.containers {
        match containers.find(name)? {
            None => {
                eprintln!("error: no such container: `{name}`");
                failed = true;
            }
            Some(record) if containers.is_running(&record.id) => {
                eprintln!(
                    "error: cannot remove container `{name}`: it is running (end its `strata run` first)"
                );
                failed = true;
            }
            Some(record) => {
                containers.remove(&record.id)?;
                println!("{name}");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(crate::exit::USER_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}
