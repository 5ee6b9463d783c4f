//! `strata import`: a root filesystem tarball becomes a one-layer image, as `docker import`.

use std::process::ExitCode;

use anyhow::Context as _;
use strata_builder::changes::config_from_changes;
use strata_oci::archive::{import, ImportOptions};
use strata_oci::image::{
    self,
    reference::{normalize, validate_tag},
};

use crate::Global;

/// Arguments of `strata import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); may be repeated.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// The history comment (default `Imported from FILE`).
    #[arg(short, long)]
    pub message: Option<String>,
    /// The rootfs tarball, plain or gzip/zstd/bzip2/xz-compressed (`-` for stdin).
    pub file: String,
    /// Name for the image (`name[:tag]`).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub name: Option<String>,
}

/// Runs `strata import`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.name {
        validate_tag(name)?;
    }
    let options = ImportOptions {
        config: config_from_changes(&args.changes)?,
        message: args.message.clone(),
        source: args.file.clone(),
    };
    let store = crate::store::open(global)?;
    let stored = if args.file == "-" {
        import(&store, std::io::stdin().lock(), &options).context("importing from stdin")?
    } else {
        let file =
            std::fs::File::open(&args.file).with_context(|| format!("opening `{}`", args.file))?;
        import(&store, file, &options).with_context(|| format!("importing `{}`", args.file))?
    };
    match &args.name {
        Some(name) => image::name(&store, &normalize(name), &stored.manifest)?,
        None => image::keep_untagged(&store, &stored.manifest)?,
    }
    store.index().flush()?;
    println!("{}", stored.id);
    Ok(ExitCode::SUCCESS)
}
