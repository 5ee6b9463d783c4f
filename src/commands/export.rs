//! `strata export`: an image's flattened filesystem as one tarball (docker's `export` works on
//! a container; strata's flattens an image, which is what a fresh container of it holds).

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use strata_oci::archive::export;
use strata_oci::image;

use crate::Global;

/// Arguments of `strata export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The image to flatten.
    pub image: String,
}

/// Runs `strata export`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to export to a terminal: use -o FILE or redirect stdout");
    }
    let store = crate::store::open(global)?;
    let found = image::find(&store, &args.image)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{}`", args.image))?;
    match &args.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in `{}`", dir.display()))?;
            {
                let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
                export(&store, &found, &mut out)?;
                out.flush()?;
            }
            tmp.persist(path)
                .with_context(|| format!("writing `{}`", path.display()))?;
        }
        None => {
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            export(&store, &found, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
