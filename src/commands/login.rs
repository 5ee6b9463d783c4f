//! `strata login [SERVER]`: checks credentials against a registry and files them where docker
//! does (`$DOCKER_CONFIG/config.json`, or its credential helper).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use strata_oci::registry::{auth, Credentials, DOCKER_HUB};

use crate::Global;

/// Arguments of `strata login`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry (`host[:port]`); Docker Hub when omitted.
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
    /// User name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: a password on the command line is visible to
    /// other users).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// The registry a `login`/`logout` argument names (`https://host/v1/` → `host`).
pub fn server_of(server: Option<&str>) -> String {
    match server {
        None => DOCKER_HUB.to_string(),
        Some(s) => auth::normalize_host(s),
    }
}

fn prompt(question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Runs `strata login`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let registry = server_of(args.server.as_deref());
    let password = if args.password_stdin {
        if args.username.is_none() {
            anyhow::bail!("--password-stdin needs --username");
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)?;
        let text = text.trim_end_matches(['\r', '\n']).to_string();
        Some(text)
    } else {
        if args.password.is_some() {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        }
        args.password.clone()
    };
    let username = match args.username.clone() {
        Some(u) => u,
        None if std::io::stdin().is_terminal() => prompt("Username: ")?,
        None => anyhow::bail!("a username is required: use --username (stdin is not a terminal)"),
    };
    let password = match password {
        Some(p) => p,
        None if std::io::stdin().is_terminal() => {
            // No echo while typing the password; the terminal is restored even when reading fails.
            let stdin = std::io::stdin();
            let saved = rustix::termios::tcgetattr(&stdin).ok();
            if let Some(term) = &saved {
                let mut quiet = term.clone();
                quiet.local_modes &= !rustix::termios::LocalModes::ECHO;
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet)
                    .ok();
            }
            let answer = prompt("Password: ");
            if let Some(term) = &saved {
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, term)
                    .ok();
                eprintln!();
            }
            answer?
        }
        None => anyhow::bail!("a password is required: use --password-stdin"),
    };
    if username.is_empty() || password.is_empty() {
        anyhow::bail!("username and password must not be empty");
    }
    let credentials = Credentials { username, password };
    let client = crate::registry::client(global)?;
    client
        .check_login(&registry, &credentials)
        .map_err(|e| anyhow::anyhow!("login to {registry}: {e}"))?;
    let place = auth::store(&auth::docker_config_dir(), &registry, &credentials)?;
    eprintln!("credentials saved in {place}");
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}
