//! `strata debug`: what the frontend makes of a Dockerfile (AST dump, build graph).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use strata_frontend::{compile, parser, BuildOptions, UnknownBaseImages};

use crate::Global;

/// The `debug` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the parser's AST in BuildKit's `debug dump` format, one instruction a line.
    /// Flags are not validated at this layer, as in BuildKit.
    Dump {
        /// The Dockerfile to read (`-` for stdin).
        dockerfile: PathBuf,
    },
    /// Print the build graph the frontend hands the builder.
    Graph {
        /// Build only up to this stage.
        #[arg(long)]
        target: Option<String>,
        /// A build-time variable (`K=V`, or `K` to take it from the environment).
        #[arg(long = "build-arg", value_name = "K[=V]")]
        build_args: Vec<String>,
        /// The platform to build for.
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
        /// The Dockerfile to read, or a directory holding one.
        dockerfile: PathBuf,
    },
}

/// Runs one `debug` subcommand.
pub fn run(_global: &Global, cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Dump { dockerfile } => {
            let (name, text) = read_dockerfile(&dockerfile)?;
            let ast = parser::parse(&text).map_err(|e| e.in_file(&name, &text))?;
            // Data on stdout, findings on stderr (BuildKit prints the same warnings).
            for (line, warning) in &ast.warnings {
                eprintln!("warning: {name}:{line}: {warning}");
            }
            print!("{}", ast.dump());
        }
        Command::Graph {
            target,
            build_args,
            platform,
            dockerfile,
        } => {
            let (name, text) = read_dockerfile(&dockerfile)?;
            let ast = parser::parse(&text).map_err(|e| e.in_file(&name, &text))?;
            let platform = strata_frontend::stages::normalize_platform(&platform)
                .map_err(|e| anyhow::anyhow!("--platform: {e}"))?;
            let options = BuildOptions {
                build_args: super::build::resolve_build_args(&build_args)?,
                target,
                platform,
                ..BuildOptions::default()
            };
            let graph =
                compile(&ast, &options, &UnknownBaseImages).map_err(|e| e.in_file(&name, &text))?;
            // The graph on stdout; what BuildKit would warn about on stderr.
            for unused in &graph.unused_build_args {
                eprintln!("warning: build-arg {unused} was not consumed");
            }
            for warning in &graph.warnings {
                eprintln!(
                    "warning: {name}:{}: {}: {}",
                    warning.lines.0, warning.rule, warning.message
                );
            }
            print!("{graph}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a Dockerfile (a file, a directory holding `Dockerfile`, or `-` for stdin); returns
/// the name to use in messages and the text.
pub fn read_dockerfile(path: &Path) -> anyhow::Result<(String, String)> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading the Dockerfile from stdin")?;
        return Ok(("Dockerfile".into(), text));
    }
    let file = if path.is_dir() {
        path.join("Dockerfile")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("reading the Dockerfile `{}`", file.display()))?;
    Ok((file.display().to_string(), text))
}
