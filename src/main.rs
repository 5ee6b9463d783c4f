//! The `strata` command line: argument parsing, progress and error rendering.
//! Everything else lives in the library crates (`frontend`, `builder`, `cache`).

mod cache;
mod commands;
mod exit;
mod isolation;
mod named_contexts;
mod output;
mod progress;
mod registry;
mod render;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Options every subcommand sees.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Directory holding strata's store (blobs, snapshots, index).
    /// Defaults to /var/lib/strata as root and $XDG_DATA_HOME/strata otherwise.
    #[arg(long, global = true, env = "STRATA_ROOT")]
    pub root: Option<PathBuf>,

    /// How long to wait for another strata process to release the store, e.g. `300s`, `5m`.
    #[arg(long, global = true, default_value = "5m")]
    pub lock_timeout: String,

    /// A registry (`host[:port]`, or a host for every port) to reach over plain HTTP, as
    /// docker's `insecure-registries`; repeatable. localhost, 127.0.0.0/8 and ::1 always are.
    #[arg(
        long = "insecure-registry",
        global = true,
        value_name = "HOST[:PORT]",
        env = "STRATA_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registry: Vec<String>,

    /// How long a registry may keep strata waiting in one attempt (to connect, or for an
    /// answer or the next bytes of one), e.g. `30s`, `2m`; one operation gives up after twice
    /// that across its retries.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "STRATA_REGISTRY_TIMEOUT",
        default_value = "30s"
    )]
    pub registry_timeout: String,

    /// How RUN steps and containers are isolated: `auto` (namespaces as root, rootless for
    /// other users, chroot as root where namespaces are refused), `namespaces`, `rootless` or
    /// `chroot`. `strata info` shows what this environment allows.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "MODE",
        env = "STRATA_ISOLATION",
        default_value = "auto"
    )]
    pub isolation: isolation::Requested,

    /// The mode settled for this command (see `isolation::settle`).
    #[arg(skip)]
    pub isolation_chosen: Option<strata_builder::sandbox::Isolation>,
}

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "A daemonless container-image builder for CI"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build an image from a Dockerfile.
    Build(commands::build::Args),
    /// Inspect what the frontend makes of a Dockerfile.
    #[command(subcommand)]
    Debug(commands::debug::Command),
    /// Run a command in a new container of an image (docker run's flags; no daemon).
    Run(commands::run::Args),
    /// List containers (running ones; -a: the kept ones too).
    Ps(commands::ps::Args),
    /// Remove kept containers.
    Rm(commands::rm::Args),
    /// Make an image of a container's changes.
    Commit(commands::commit::Args),
    /// Save images to a tarball (OCI layout + docker-archive).
    Save(commands::save::Args),
    /// Load images from a tarball.
    Load(commands::load::Args),
    /// Pull an image from a registry.
    Pull(commands::pull::Args),
    /// Push an image to a registry.
    Push(commands::push::Args),
    /// Log in to a registry (credentials go where docker keeps them).
    Login(commands::login::Args),
    /// Log out from a registry.
    Logout(commands::logout::Args),
    /// Make a one-layer image from a root filesystem tarball.
    Import(commands::import::Args),
    /// Write an image's flattened filesystem as a tarball.
    Export(commands::export::Args),
    /// List images.
    Images(commands::images::Args),
    /// Give an image another name.
    Tag(commands::tag::Args),
    /// Remove image names (the data goes at the next prune).
    Rmi(commands::rmi::Args),
    /// Show an image's details as JSON (docker's shape).
    Inspect(commands::inspect::Args),
    /// Show an image's history.
    History(commands::history::Args),
    /// Reclaim space: build cache and unreferenced blobs and snapshots.
    Prune(commands::prune::Args),
    /// Show what the store holds and what could be reclaimed.
    Du(commands::du::Args),
    /// Show which isolation modes this environment allows, why not the others, and the fixes.
    Info(commands::info::Args),
}

impl Command {
    /// What the command needs from the isolation mode.
    fn needs(&self) -> isolation::Needs {
        use isolation::Needs;
        match self {
            Command::Build(_) | Command::Run(_) => Needs::Sandbox,
            Command::Debug(_) | Command::Login(_) | Command::Logout(_) | Command::Info(_) => {
                Needs::Nothing
            }
            Command::Ps(_)
            | Command::Rm(_)
            | Command::Commit(_)
            | Command::Save(_)
            | Command::Load(_)
            | Command::Pull(_)
            | Command::Push(_)
            | Command::Import(_)
            | Command::Export(_)
            | Command::Images(_)
            | Command::Tag(_)
            | Command::Rmi(_)
            | Command::Inspect(_)
            | Command::History(_)
            | Command::Prune(_)
            | Command::Du(_) => Needs::Store,
        }
    }
}

fn main() -> ExitCode {
    // `strata images | head` must end quietly: let a closed stdout end the process as it does
    // for other Unix tools, instead of panicking in `println!`.
    // Raw libc: rustix has no safe way to set a signal's disposition.
    // SAFETY: called before any thread starts; restoring the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut cli = Cli::parse();
    init_tracing();
    // Before anything starts a thread: rootless mode moves this process into a namespace.
    if let Err(error) = isolation::settle(&mut cli.global, cli.command.needs()) {
        return exit::report(Err(error));
    }
    let result = match cli.command {
        Command::Build(args) => commands::build::run(&cli.global, args),
        Command::Debug(cmd) => commands::debug::run(&cli.global, cmd),
        Command::Run(args) => commands::run::run(&cli.global, args),
        Command::Ps(args) => commands::ps::run(&cli.global, args),
        Command::Rm(args) => commands::rm::run(&cli.global, args),
        Command::Commit(args) => commands::commit::run(&cli.global, args),
        Command::Save(args) => commands::save::run(&cli.global, args),
        Command::Load(args) => commands::load::run(&cli.global, args),
        Command::Pull(args) => commands::pull::run(&cli.global, args),
        Command::Push(args) => commands::push::run(&cli.global, args),
        Command::Login(args) => commands::login::run(&cli.global, args),
        Command::Logout(args) => commands::logout::run(&cli.global, args),
        Command::Import(args) => commands::import::run(&cli.global, args),
        Command::Export(args) => commands::export::run(&cli.global, args),
        Command::Images(args) => commands::images::run(&cli.global, args),
        Command::Tag(args) => commands::tag::run(&cli.global, args),
        Command::Rmi(args) => commands::rmi::run(&cli.global, args),
        Command::Inspect(args) => commands::inspect::run(&cli.global, args),
        Command::History(args) => commands::history::run(&cli.global, args),
        Command::Prune(args) => commands::prune::run(&cli.global, args),
        Command::Du(args) => commands::du::run(&cli.global, args),
        Command::Info(args) => commands::info::run(&cli.global, args),
    };
    exit::report(result)
}

/// Logs go to stderr, filtered by `STRATA_LOG` (e.g. `STRATA_LOG=debug`); quiet by default.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        // rustls-platform-verifier logs certificate failures that strata reports itself.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,rustls_platform_verifier=off")
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
