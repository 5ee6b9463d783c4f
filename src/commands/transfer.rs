//! `strata import` and `strata export`: root filesystem tarballs in and out.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use strata_builder::archive::{export, import};
use strata_builder::image::{
    self,
    reference::{normalize, validate_tag},
};
use strata_frontend::{compile, parser, BuildOptions, UnknownBaseImages};

use crate::Global;

/// Arguments of `strata import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); may be repeated.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// The rootfs tarball (`-` for stdin).
    pub file: String,
    /// Name for the image.
    pub name: Option<String>,
}

/// Arguments of `strata export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The image to flatten.
    pub image: String,
}

/// Runs `strata import`.
pub fn import_cmd(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.name {
        validate_tag(name).map_err(|e| anyhow::anyhow!(e))?;
    }
    const ALLOWED: [&str; 10] = [
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ];
    let mut dockerfile = String::from("FROM scratch\n");
    for change in &args.changes {
        let keyword = change
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_uppercase();
        if !ALLOWED.contains(&keyword.as_str()) {
            anyhow::bail!(
                "--change `{change}`: {keyword} is not allowed (allowed: {})",
                ALLOWED.join(", ")
            );
        }
        dockerfile.push_str(change);
        dockerfile.push('\n');
    }
    let ast =
        parser::parse(&dockerfile).map_err(|e| anyhow::anyhow!("--change: {}", e.message()))?;
    let graph = compile(&ast, &BuildOptions::default(), &UnknownBaseImages)
        .map_err(|e| anyhow::anyhow!("--change: {}", e.message()))?;
    let mut config = graph.target_stage().config.clone();
    // `FROM scratch` gives PATH; an import starts from nothing but what --change says.
    if !args
        .changes
        .iter()
        .any(|c| c.to_uppercase().starts_with("ENV") && c.contains("PATH"))
    {
        config.env.retain(|(k, _)| k != "PATH");
    }
    let store = crate::store::open(global)?;
    let created_by = format!("strata import {}", args.file);
    let stored = if args.file == "-" {
        import(&store, std::io::stdin().lock(), &config, &created_by)?
    } else {
        let file =
            std::fs::File::open(&args.file).with_context(|| format!("opening `{}`", args.file))?;
        import(&store, file, &config, &created_by)
            .with_context(|| format!("importing `{}`", args.file))?
    };
    if let Some(name) = &args.name {
        store.index().put_tag(&normalize(name), &stored.manifest)?;
    }
    store.index().flush()?;
    println!("{}", stored.id);
    Ok(ExitCode::SUCCESS)
}

/// Runs `strata export`.
pub fn export_cmd(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(global)?;
    let found = image::find(&store, &args.image)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{}`", args.image))?;
    match &args.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
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
