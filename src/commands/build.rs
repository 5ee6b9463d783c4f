//! `strata build`: build an image from a Dockerfile and a context directory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use strata_builder::context::BuildContext;
use strata_builder::progress::Event;
use strata_builder::sandbox::Network;
use strata_builder::solve::{
    BuildRequest, Builder, Dockerfile, Entitlements, PullingImages, Secrets,
};
use strata_frontend::{compile, parser, BuildOptions};
use strata_oci::cache_exchange::{export, parse_cache_from, parse_cache_to, ImportedCache};
use strata_oci::image::reference::validate_tag;

use crate::cache;
use crate::named_contexts;
use crate::output::{self, Output};
use crate::progress;
use crate::Global;

/// Arguments of `strata build`, named and behaving as `docker build`'s.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Name and optionally a tag (`name:tag`) for the image; may be repeated.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// The Dockerfile (`-` reads it from stdin). Default: CONTEXT/Dockerfile, else CONTEXT/Containerfile.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Build the named stage and what it needs, not the last stage.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// A build-time variable: `K=V`, or `K` to take the value from the environment.
    #[arg(long = "build-arg", value_name = "K[=V]")]
    pub build_args: Vec<String>,
    /// Ignore the cache: run every step.
    #[arg(long)]
    pub no_cache: bool,
    /// Add a label to the image (`K=V`); may be repeated.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Network for RUN steps that don't set their own: `default` (the build's own isolated
    /// network with outbound access, as docker build), `host` (the host's network: trusted
    /// Dockerfiles only; it grants `network.host`) or `none`.
    #[arg(long, value_name = "MODE", default_value = "default", value_parser = ["default", "host", "none"])]
    pub network: String,
    /// Let RUN steps ask for more than the sandbox gives, as buildx's `--allow`:
    /// `network.host` (`RUN --network=host`) or `security.insecure` (`RUN --security=insecure`:
    /// all capabilities, no seccomp). Only for Dockerfiles you trust; may be repeated.
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// A secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR` (`id=ID`
    /// alone reads the variable `ID`, else the file `ID`); may be repeated.
    #[arg(long = "secret", value_name = "id=ID[,src=FILE|,env=VAR]")]
    pub secrets: Vec<String>,
    /// Write the image ID to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Print only the image ID on success, no progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Export the build cache: `type=local,dest=DIR` or `type=registry,ref=REF`, with
    /// `mode=min` (the final image's steps, default) or `mode=max` (every stage's); may be repeated.
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Use an exported build cache: `type=local,src=DIR`, `type=registry,ref=REF` or just REF;
    /// may be repeated (earlier ones win).
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// Always check the registry for a newer version of each base image (and pull it).
    #[arg(long)]
    pub pull: bool,
    /// How to show progress.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: progress::Mode,
    // -- outputs (src/output/): where the result goes, as buildx's flags --
    /// Where the result goes, as buildx's `-o`: `type=local,dest=DIR` (the files), `type=tar,
    /// dest=FILE|-`, `type=oci|docker,dest=FILE|-` (image tarballs), `type=image[,name=REF]
    /// [,push=true]`, `type=registry,name=REF`; `DIR` alone is `type=local`, `-` a tar on
    /// stdout. Default: the image, named by the tags, in the store. May be repeated.
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Push the image to the registry of each tag (shorthand for `--output type=registry`).
    #[arg(long)]
    pub push: bool,
    /// Keep the image in the store even with other outputs (shorthand for `--output
    /// type=docker`).
    #[arg(long)]
    pub load: bool,
    /// Write the result's digests as JSON (buildx's keys: `containerimage.digest`, …).
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// A named context, as buildx's: `NAME=DIR`, `NAME=docker-image://REF` or
    /// `NAME=oci-layout://DIR[:TAG]`, used by `FROM NAME`, `COPY --from=NAME` and
    /// `RUN --mount=from=NAME` (it replaces a stage or image of that name). May be repeated.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// The build context directory, or `-` for a Dockerfile on stdin and no context.
    pub context: PathBuf,
}

/// Where the Dockerfile text and the context come from.
pub struct Inputs {
    /// The Dockerfile's text.
    pub dockerfile_text: String,
    /// Its path (for error messages and the `<Dockerfile>.dockerignore` rule), if it has one.
    pub dockerfile_path: Option<PathBuf>,
    /// The context dir; `None` for `-` (no context).
    pub context: Option<PathBuf>,
}

impl Args {
    /// Reads the Dockerfile and settles the context, as `docker build` does.
    pub fn inputs(&self) -> anyhow::Result<Inputs> {
        let from_stdin = self.context == Path::new("-");
        if from_stdin {
            if self.file.is_some() {
                bail!("`-f` cannot be combined with a context of `-`: the Dockerfile comes from stdin");
            }
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            return Ok(Inputs {
                dockerfile_text: text,
                dockerfile_path: None,
                context: None,
            });
        }
        if !self.context.is_dir() {
            bail!(
                "context `{}` is not a directory (give a directory, or `-` for a Dockerfile on stdin)",
                self.context.display()
            );
        }
        let path = match &self.file {
            Some(file) if file == Path::new("-") => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the Dockerfile from stdin")?;
                return Ok(Inputs {
                    dockerfile_text: text,
                    dockerfile_path: None,
                    context: Some(self.context.clone()),
                });
            }
            Some(file) => file.clone(),
            None => default_dockerfile(&self.context),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the Dockerfile `{}`", path.display()))?;
        Ok(Inputs {
            dockerfile_text: text,
            dockerfile_path: Some(path),
            context: Some(self.context.clone()),
        })
    }
}

/// Reads `--secret` specs as buildx does: `id=ID,src=FILE` (also `source=`), `id=ID,env=VAR`,
/// with an optional `type=file|env`; `id=ID` alone takes the variable `ID` if set, else the
/// file `ID`.
fn read_secrets(specs: &[String]) -> anyhow::Result<Secrets> {
    let mut secrets = Secrets::new();
    for spec in specs {
        let (mut id, mut file, mut var, mut kind) = (None, None, None, None);
        for field in spec.split(',') {
            let (key, value) = field
                .split_once('=')
                .with_context(|| format!("--secret `{spec}`: `{field}` is not a key=value pair"))?;
            match key.trim().to_ascii_lowercase().as_str() {
                "id" => id = Some(value.to_string()),
                "src" | "source" => file = Some(PathBuf::from(value)),
                "env" => var = Some(value.to_string()),
                "type" if value == "file" || value == "env" => kind = Some(value.to_string()),
                "type" => {
                    bail!("--secret `{spec}`: unsupported secret type `{value}` (file or env)")
                }
                other => bail!("--secret `{spec}`: unexpected key `{other}` (id, src, env, type)"),
            }
        }
        let id = match id.or_else(|| var.clone()).or_else(|| {
            file.as_ref()
                .and_then(|f| f.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        }) {
            Some(id) if !id.is_empty() => id,
            _ => bail!("--secret `{spec}`: an `id` is required"),
        };
        let from_env =
            |name: &str| std::env::var_os(name).map(std::os::unix::ffi::OsStringExt::into_vec);
        let data = match (kind.as_deref(), file, var) {
            (Some("env"), file, var) => {
                let name = var
                    .or_else(|| file.map(|f| f.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| id.clone());
                from_env(&name).with_context(|| {
                    format!("--secret `{spec}`: environment variable `{name}` is not set")
                })?
            }
            (_, Some(file), _) => std::fs::read(&file)
                .with_context(|| format!("--secret `{spec}`: reading `{}`", file.display()))?,
            (_, None, Some(name)) => from_env(&name).with_context(|| {
                format!("--secret `{spec}`: environment variable `{name}` is not set")
            })?,
            (_, None, None) => match from_env(&id) {
                Some(value) => value,
                None => std::fs::read(&id).with_context(|| {
                    format!("--secret `{spec}`: no environment variable or file named `{id}`")
                })?,
            },
        };
        secrets.insert(id, data);
    }
    Ok(secrets)
}

/// `CONTEXT/Dockerfile`, or `CONTEXT/Containerfile` when only that exists (podman's name).
fn default_dockerfile(context: &Path) -> PathBuf {
    let dockerfile = context.join("Dockerfile");
    let containerfile = context.join("Containerfile");
    if !dockerfile.exists() && containerfile.exists() {
        containerfile
    } else {
        dockerfile
    }
}

/// Turns `--build-arg K=V` / `--build-arg K` (value from the environment; skipped when unset,
/// as docker does) into a map.
pub fn resolve_build_args(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    for arg in raw {
        match arg.split_once('=') {
            Some(("", _)) => bail!("invalid --build-arg `{arg}`: the name is empty"),
            Some((key, value)) => {
                args.insert(key.to_string(), value.to_string());
            }
            None => {
                if let Ok(value) = std::env::var(arg) {
                    args.insert(arg.clone(), value);
                }
            }
        }
    }
    Ok(args)
}

/// Runs a build: frontend, scheduler, image into the store, tags.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    for tag in &args.tags {
        validate_tag(tag)?;
    }
    let labels = args
        .labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("invalid --label `{l}`: expected KEY=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cache_to = args
        .cache_to
        .iter()
        .map(|spec| parse_cache_to(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let cache_from = args
        .cache_from
        .iter()
        .map(|spec| parse_cache_from(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = output::resolve(&args.outputs, &args.tags, args.push, args.load)?;
    if args.quiet && outputs.iter().any(Output::writes_stdout) {
        bail!("-q prints the image ID on stdout, where an output goes too: drop one of them");
    }
    let inputs = args.inputs()?;
    let name = inputs
        .dockerfile_path
        .as_ref()
        .map_or_else(|| "Dockerfile".to_string(), |p| p.display().to_string());
    let text = &inputs.dockerfile_text;
    let ast = parser::parse(text).map_err(|e| e.in_file(&name, text))?;
    let store = crate::store::open(global)?;
    let progress = progress::renderer(if args.quiet {
        progress::Mode::Quiet
    } else {
        args.progress
    });
    let defaults = BuildOptions::default();
    let contexts = named_contexts::resolve(
        &args.build_contexts,
        &store,
        &defaults.platform,
        &|message: &str| progress.event(Event::Note { message }),
    )?;
    let options = BuildOptions {
        build_args: resolve_build_args(&args.build_args)?,
        target: args.target.clone(),
        network: args.network.clone(),
        named_contexts: contexts.frontend,
        ..defaults
    };
    let registry = std::sync::Arc::new(crate::registry::client(global)?);
    let pull_progress = |line: &str| progress.event(Event::Note { message: line });
    let images = PullingImages::new(&store, &registry, args.pull, &pull_progress);
    let graph = compile(&ast, &options, &images).map_err(|e| e.in_file(&name, text))?;
    let context = match &inputs.context {
        Some(dir) => Some(BuildContext::open(dir, inputs.dockerfile_path.as_deref())?),
        None => None,
    };
    for unused in &graph.unused_build_args {
        progress.event(Event::Note {
            message: &format!("[warning] one or more build-args [{unused}] were not consumed"),
        });
    }
    let source_date_epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .map(|v| v.parse::<i64>())
        .transpose()
        .context("SOURCE_DATE_EPOCH must be a number of seconds")?;
    let warn = |message: &str| progress.event(Event::Warning { message });
    let backends = cache::Backends::new(registry.clone());
    let imported = (!cache_from.is_empty()).then(|| {
        let backends = cache_from
            .iter()
            .filter_map(|spec| match backends.backend(&spec.location) {
                Ok(backend) => Some(backend),
                Err(e) => {
                    warn(&format!("importing cache failed, building without it: {e}"));
                    None
                }
            })
            .collect();
        ImportedCache::open(backends, &warn)
    });
    let mut entitlements = Entitlements::default();
    for name in &args.allow {
        entitlements.allow(name)?;
    }
    // The operator chose the host's network on the command line: the Dockerfile may use it.
    entitlements.network_host |= Network::parse(&args.network) == Some(Network::Host);
    let sandbox = crate::isolation::executor(global, store.tmp_dir(), warn);
    let builder = Builder::new(&store, sandbox.as_ref(), progress.as_ref());
    let request = BuildRequest {
        graph: &graph,
        dockerfile: Dockerfile { path: &name, text },
        context: context.as_ref(),
        no_cache: args.no_cache,
        labels,
        source_date_epoch,
        cache_from: imported.as_ref(),
        secrets: read_secrets(&args.secrets)?,
        entitlements,
        named_contexts: contexts.dirs,
    };
    // A failed step's error names the file as given (`-f build/Dockerfile.ci`), the line,
    // and shows it with carets under it, as Dockerfile errors are shown.
    let output = builder.build(&request)?;
    let id = output.image.id.to_string();
    let note = |message: &str| progress.event(Event::Note { message });
    let exporters = output::Exporters {
        store: &store,
        registry: &registry,
        note: &note,
    };
    let metadata = output::export(&exporters, &outputs, &output.image)?;
    store.index().flush()?;
    // What BuildKit's checks would say, at the end of the build as BuildKit prints them.
    for (line, warning) in &ast.warnings {
        warn(&format!("{name}:{line}: {warning}"));
    }
    for warning in &graph.warnings {
        warn(&format!(
            "{name}:{}: {}: {}",
            warning.lines.0, warning.rule, warning.message
        ));
    }
    for spec in &cache_to {
        let exported = backends.backend(&spec.location).and_then(|backend| {
            export(
                &store,
                imported.as_ref(),
                &output.steps,
                spec.mode,
                backend.as_ref(),
            )
        });
        match exported {
            Ok(summary) => progress.event(Event::Note {
                message: &format!(
                    "exporting cache to {}: {} steps, {} layers ({} sent)",
                    spec.location, summary.steps, summary.layers, summary.uploaded
                ),
            }),
            Err(e) => warn(&format!("exporting cache failed: {e}")),
        }
    }
    // Without an image output (`-o type=local`) there is no image to speak of.
    let done = match &metadata {
        Some(_) => format!("writing image {id}"),
        None => "done".to_string(),
    };
    progress.event(Event::Note {
        message: &format!(
            "{done} ({} steps cached, {} run)",
            output.cached, output.ran
        ),
    });
    if let Some(path) = &args.metadata_file {
        output::write_metadata(path, metadata.as_ref())?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id).with_context(|| format!("writing `{}`", path.display()))?;
    }
    if args.quiet {
        println!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}
