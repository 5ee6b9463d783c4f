//! `strata save`: images to one tarball (OCI layout + docker-archive), stdout or `-o FILE`.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use strata_cache::Store;
use strata_oci::archive::{save, SaveOptions};
use strata_oci::image::{self, reference::Reference, StoredImage};
use strata_oci::Compression;

use crate::Global;

/// Arguments of `strata save`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Layer compression (`none` as `docker save`; compressed forms are made once and kept).
    #[arg(long, value_parser = ["none", "gzip", "zstd"], default_value = "none")]
    pub compression: String,
    /// Images to save: `name[:tag]`, `name@sha256:…` or an image ID. A name without a tag
    /// saves every tag of that repository, as docker does.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// The images one argument means, each with the names it is saved under.
fn resolve(store: &Store, reference: &str) -> anyhow::Result<Vec<(Vec<String>, StoredImage)>> {
    if let Ok(parsed) = Reference::parse(reference) {
        if parsed.tag.is_none() && parsed.digest.is_none() {
            let mut found = Vec::new();
            for (key, manifest) in image::names(store)? {
                if image::reference::split_key(&key).0 == parsed.name {
                    found.push((vec![key], image::load(store, &manifest)?));
                }
            }
            if !found.is_empty() {
                return Ok(found);
            }
        } else if parsed.digest.is_none() {
            if let Some(manifest) = store.index().tag(&parsed.key())? {
                return Ok(vec![(vec![parsed.key()], image::load(store, &manifest)?)]);
            }
        }
    }
    // A digest reference or an image ID: saved without a name, as docker does.
    match image::find(store, reference)? {
        Some(found) => Ok(vec![(Vec::new(), found)]),
        None => anyhow::bail!("no such image: `{reference}`"),
    }
}

/// Runs `strata save`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal: use -o FILE or redirect stdout");
    }
    let store = crate::store::open(global)?;
    let mut images = Vec::new();
    for reference in &args.images {
        images.extend(resolve(&store, reference)?);
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
                save(&store, &images, &options, &mut out)
                    .with_context(|| format!("saving to `{}`", path.display()))?;
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
