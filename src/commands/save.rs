//! `strata save`: images to one tarball (OCI layout + docker-archive), stdout or `-o FILE`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use strata_builder::archive::{save, SaveOptions};
use strata_builder::image::{self, reference::normalize};
use strata_builder::layer::Compression;

use crate::Global;

/// Arguments of `strata save`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Layer compression.
    #[arg(long, value_parser = ["none", "gzip", "zstd"], default_value = "none")]
    pub compression: String,
    /// Images to save (names, tags or IDs).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Runs `strata save`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(global)?;
    let mut images = Vec::new();
    for reference in &args.images {
        let found = image::find(&store, reference)?
            .ok_or_else(|| anyhow::anyhow!("no such image: `{reference}`"))?;
        let names = if found
            .id
            .hex()
            .starts_with(reference.trim_start_matches("sha256:"))
        {
            Vec::new()
        } else {
            vec![normalize(reference)]
        };
        images.push((names, found));
    }
    let options = SaveOptions {
        compression: match args.compression.as_str() {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        },
    };
    match &args.output {
        Some(path) => {
            // Written beside the target and renamed: a failed save leaves no partial file.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in `{}`", dir.display()))?;
            {
                let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
                save(&store, &images, &options, &mut out)?;
                out.flush()?;
            }
            tmp.persist(path)
                .with_context(|| format!("writing `{}`", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            save(&store, &images, &options, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
