//! `strata images`: the store's images as docker lists them.

use std::process::ExitCode;

use crate::render::tables::{image_header, image_rows};
use crate::render::template::{render_rows, Template};
use strata_oci::image::reference::Reference;

use crate::store::open;
use crate::Global;

/// Arguments of `strata images`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only image IDs (once each).
    #[arg(short, long)]
    pub quiet: bool,
    /// `table` (default), `json` (one object per line), or a Go template such as
    /// `{{.Repository}}:{{.Tag}}` (`table …` for aligned columns with a header).
    #[arg(long)]
    pub format: Option<String>,
    /// Full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show manifest digests.
    #[arg(long)]
    pub digests: bool,
    /// Accepted for docker compatibility: strata keeps no intermediate images.
    #[arg(short, long)]
    pub all: bool,
    /// Only this repository (and tag).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGESTS_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Runs `strata images`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let filter = match &args.reference {
        Some(text) => Some(Reference::parse(text)?),
        None => None,
    };
    let store = open(global)?;
    let mut rows = image_rows(&store, strata_cache::now(), args.no_trunc)?;
    if let Some(filter) = &filter {
        rows.retain(|row| {
            row["Repository"].as_str() == Some(filter.name.as_str())
                && filter
                    .tag
                    .as_deref()
                    .is_none_or(|tag| row["Tag"].as_str() == Some(tag))
        });
    }
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for row in &rows {
            let id = row["ID"].as_str().unwrap_or_default();
            if seen.insert(id.to_string()) {
                println!("{id}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let format = match args.format.as_deref() {
        None | Some("table") if args.digests => DIGESTS_TABLE,
        None | Some("table") => DEFAULT_TABLE,
        Some("json") => "{{json .}}",
        Some(other) => other,
    };
    let template = Template::parse(format)?;
    print!("{}", render_rows(&template, &image_header(), &rows)?);
    Ok(ExitCode::SUCCESS)
}
