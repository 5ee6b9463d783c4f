//! `strata history`: an image's history, newest first, as docker shows it.

use std::process::ExitCode;

use crate::render::tables::{history_header, history_rows, HistoryOptions};
use crate::render::template::{render_rows, Template};
use strata_oci::image;

use crate::Global;

/// Arguments of `strata history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sizes and dates for people (`-H=false` for bytes and RFC 3339 times).
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Do not shorten IDs and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only the IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// A Go template per row (`{{.CreatedBy}}`; `table …` for aligned columns).
    #[arg(long)]
    pub format: Option<String>,
    /// The image.
    pub image: String,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// Runs `strata history`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(global)?;
    let found = image::find(&store, &args.image)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{}`", args.image))?;
    let options = HistoryOptions {
        human: args.human,
        truncate: !args.no_trunc,
        now: strata_cache::now(),
    };
    let rows = history_rows(&store, &found, &options)?;
    if args.quiet {
        for row in &rows {
            println!("{}", row["ID"].as_str().unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let template = Template::parse(match args.format.as_deref() {
        None | Some("table") => DEFAULT_TABLE,
        Some("json") => "{{json .}}",
        Some(other) => other,
    })?;
    print!("{}", render_rows(&template, &history_header(), &rows)?);
    Ok(ExitCode::SUCCESS)
}
