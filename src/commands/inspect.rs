//! `strata inspect`: docker's JSON view of images, or a `--format` template over it.

use std::process::ExitCode;

use crate::render::inspect;
use crate::render::template::Template;
use strata_oci::image;

use crate::Global;

/// Arguments of `strata inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A Go template over each image's JSON: `{{.Id}}`, `{{json .Config.Env}}`,
    /// `{{range .RepoTags}}…{{end}}`, `{{index .Config.Labels "k"}}`.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Images to inspect (names, `name@digest`s or IDs).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Runs `strata inspect`: prints what it found, then fails if anything was missing (docker's
/// behaviour, so a script sees both).
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let store = crate::store::open(global)?;
    let mut views = Vec::new();
    let mut missing = Vec::new();
    for reference in &args.images {
        match image::find(&store, reference)? {
            Some(found) => views.push(inspect::inspect(&store, &found)?),
            None => missing.push(reference.as_str()),
        }
    }
    match &template {
        Some(template) => {
            for v in &views {
                println!("{}", template.render(&v.to_value())?);
            }
        }
        None => println!("{}", inspect::inspect_json(&views)),
    }
    if missing.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for reference in missing {
        eprintln!("error: no such image: `{reference}`");
    }
    Ok(ExitCode::from(crate::exit::USER_ERROR))
}
