//! `-o`/`--output` values, read as buildx reads them: one CSV record of `key=value` fields
//! (`type=local,dest=out`), or a bare path (`-o out` is `type=local,dest=out`), or `-`
//! (`type=tar` to stdout). Each exporter takes only its own keys, so a typo fails the build
//! before anything runs instead of being ignored.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use strata_frontend::instructions::csv_record;
use strata_oci::image::reference::validate_tag;
use strata_oci::Compression;

/// Where an exporter writes a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A file, written beside its final name and renamed into place.
    File(PathBuf),
    /// Standard output (`dest=-`).
    Stdout,
}

/// An image tarball's flavour: both are what `strata save` writes (an OCI layout that is a
/// docker-archive too); the flavour says which names go in and how layers are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `type=oci`.
    Oci,
    /// `type=docker`.
    Docker,
}

/// One build output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `type=local,dest=DIR`: the target stage's files, written into a directory.
    Local {
        /// The directory.
        dest: PathBuf,
    },
    /// `type=tar,dest=FILE|-`: the target stage's files as one tar.
    Tar {
        /// Where the tar goes.
        dest: Dest,
    },
    /// `type=oci|docker,dest=FILE|-`: an image tarball.
    Archive {
        /// Which flavour.
        format: ArchiveFormat,
        /// Where it goes.
        dest: Dest,
        /// The names it carries (`name=`, or the `-t` tags).
        names: Vec<String>,
        /// Layer compression (`None`: plain tars, as `strata save`).
        compression: Option<Compression>,
    },
    /// `type=image` (and `type=registry`, `type=docker` without `dest`): the image named in
    /// the store, and pushed with `push=true`.
    Image {
        /// The names (`name=`, or the `-t` tags).
        names: Vec<String>,
        /// Push every name to its registry.
        push: bool,
        /// Layer compression for the push.
        compression: Compression,
    },
}

impl Output {
    /// Whether it writes to standard output.
    pub fn writes_stdout(&self) -> bool {
        matches!(
            self,
            Output::Tar { dest: Dest::Stdout }
                | Output::Archive {
                    dest: Dest::Stdout,
                    ..
                }
        )
    }
}

/// The keys each type takes besides `type`.
fn known_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "local" | "tar" => &["dest"],
        "oci" | "docker" => &["dest", "name", "compression"],
        "image" => &["name", "push", "compression"],
        "registry" => &["name", "push", "compression"],
        _ => &[],
    }
}

/// Parses one `-o` value.
pub fn parse(text: &str) -> anyhow::Result<Output> {
    let invalid = || format!("invalid --output `{text}`");
    let record = csv_record(text)
        .map_err(|why| anyhow::anyhow!("{why}"))
        .with_context(invalid)?;
    if let [only] = record.as_slice() {
        if only == text && !text.starts_with("type=") {
            return Ok(if text == "-" {
                Output::Tar { dest: Dest::Stdout }
            } else {
                Output::Local { dest: text.into() }
            });
        }
    }
    let mut kind = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    for field in record.iter().filter(|f| !f.trim().is_empty()) {
        let (key, value) = field
            .split_once('=')
            .with_context(|| format!("`{field}` is not of the form key=value"))
            .with_context(invalid)?;
        match key.trim().to_ascii_lowercase().as_str() {
            "type" => kind = Some(value.to_string()),
            key => fields.push((key.to_string(), value.to_string())),
        }
    }
    let kind = kind
        .context("`type` is required (local, tar, oci, docker, image or registry)")
        .with_context(invalid)?;
    let known = known_keys(&kind);
    if known.is_empty() {
        bail!(
            "{}: unknown output type `{kind}` (local, tar, oci, docker, image or registry)",
            invalid()
        );
    }
    if let Some((key, _)) = fields.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        bail!(
            "{}: unknown key `{key}` for a {kind} output (known: type, {})",
            invalid(),
            known.join(", ")
        );
    }
    let get = |key: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let dest = |required: bool| -> anyhow::Result<Option<Dest>> {
        match get("dest") {
            Some("") | None if required => bail!("{}: `dest` is required", invalid()),
            Some("") | None => Ok(None),
            Some("-") => Ok(Some(Dest::Stdout)),
            Some(path) => Ok(Some(Dest::File(path.into()))),
        }
    };
    let names = names(get("name")).with_context(invalid)?;
    Ok(match kind.as_str() {
        "local" => match dest(true)? {
            Some(Dest::File(dest)) => Output::Local { dest },
            _ => bail!(
                "{}: a local output needs a directory, not stdout (use type=tar)",
                invalid()
            ),
        },
        "tar" => Output::Tar {
            dest: dest(true)?.expect("required"),
        },
        "oci" | "docker" => {
            let format = if kind == "oci" {
                ArchiveFormat::Oci
            } else {
                ArchiveFormat::Docker
            };
            let compression = compression(get("compression"))
                .with_context(invalid)?
                .unwrap_or(None);
            match dest(format == ArchiveFormat::Oci)? {
                Some(dest) => Output::Archive {
                    format,
                    dest,
                    names,
                    compression,
                },
                // buildx loads a `type=docker` result into docker; strata's store is its docker.
                None => Output::Image {
                    names,
                    push: false,
                    compression: Compression::Gzip,
                },
            }
        }
        _ => Output::Image {
            names,
            push: kind == "registry" || boolean(get("push")).with_context(invalid)?,
            compression: compression(get("compression"))
                .with_context(invalid)?
                .map_or(Ok(Compression::Gzip), |c| {
                    c.context("a registry needs compressed layers (gzip or zstd)")
                })
                .with_context(invalid)?,
        },
    })
}

/// `name=a:1,b:2` (a CSV field may hold commas when quoted), each a valid image name.
fn names(value: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for name in value.unwrap_or("").split(',').map(str::trim) {
        if !name.is_empty() {
            validate_tag(name)?;
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// BuildKit's compression names; `Some(None)` is `uncompressed`.
fn compression(value: Option<&str>) -> anyhow::Result<Option<Option<Compression>>> {
    Ok(match value {
        None | Some("") => None,
        Some("uncompressed") => Some(None),
        Some("gzip") => Some(Some(Compression::Gzip)),
        Some("zstd") => Some(Some(Compression::Zstd)),
        Some(other) => bail!("unknown compression `{other}` (uncompressed, gzip or zstd)"),
    })
}

/// Go's `strconv.ParseBool`, as buildx reads `push=`.
fn boolean(value: Option<&str>) -> anyhow::Result<bool> {
    Ok(match value {
        None | Some("") => false,
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
        Some(other) => bail!("`{other}` is not a boolean (true or false)"),
    })
}

/// The outputs of a build, settled as buildx settles them: the `-o` values; `--push` turns
/// every image output into a pushing one (or adds `type=image,push=true`); `--load` adds
/// `type=docker` (the store); none at all means the store, as `docker build`. The `-t` tags
/// name every image and tarball output; a push needs a name.
pub fn resolve(
    values: &[String],
    tags: &[String],
    push: bool,
    load: bool,
) -> anyhow::Result<Vec<Output>> {
    let mut outputs = values
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| parse(v))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if push {
        let mut pushing = false;
        for output in &mut outputs {
            if let Output::Image { push, .. } = output {
                *push = true;
                pushing = true;
            }
        }
        if !pushing {
            outputs.push(Output::Image {
                names: Vec::new(),
                push: true,
                compression: Compression::Gzip,
            });
        }
    }
    if load && !outputs.iter().any(|o| matches!(o, Output::Image { .. })) {
        outputs.push(Output::Image {
            names: Vec::new(),
            push: false,
            compression: Compression::Gzip,
        });
    }
    if outputs.is_empty() {
        outputs.push(Output::Image {
            names: Vec::new(),
            push: false,
            compression: Compression::Gzip,
        });
    }
    for output in &mut outputs {
        match output {
            Output::Image { names, push, .. } => {
                if !tags.is_empty() {
                    *names = tags.to_vec();
                }
                if *push && names.is_empty() {
                    bail!("tag is needed when pushing to registry (give -t NAME or name=NAME)");
                }
            }
            Output::Archive { names, .. } if !tags.is_empty() => *names = tags.to_vec(),
            _ => {}
        }
    }
    if outputs.iter().filter(|o| o.writes_stdout()).count() > 1 {
        bail!("only one output can write to stdout");
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(names: &[&str], push: bool) -> Output {
        Output::Image {
            names: names.iter().map(|n| n.to_string()).collect(),
            push,
            compression: Compression::Gzip,
        }
    }

    #[test]
    fn buildx_forms_parse() {
        let ok = |text: &str| parse(text).unwrap();
        assert_eq!(ok("out"), Output::Local { dest: "out".into() });
        assert_eq!(ok("-"), Output::Tar { dest: Dest::Stdout });
        assert_eq!(
            ok("type=local,dest=build/out"),
            Output::Local {
                dest: "build/out".into()
            }
        );
        assert_eq!(ok("type=tar,dest=-"), Output::Tar { dest: Dest::Stdout });
        assert_eq!(
            ok("type=oci,dest=img.tar,compression=gzip"),
            Output::Archive {
                format: ArchiveFormat::Oci,
                dest: Dest::File("img.tar".into()),
                names: vec![],
                compression: Some(Compression::Gzip),
            }
        );
        assert_eq!(
            ok("type=docker,\"name=a:1,b:2\",dest=d.tar"),
            Output::Archive {
                format: ArchiveFormat::Docker,
                dest: Dest::File("d.tar".into()),
                names: vec!["a:1".into(), "b:2".into()],
                compression: None,
            }
        );
        assert_eq!(ok("type=docker"), image(&[], false));
        assert_eq!(ok("type=image,name=app:1"), image(&["app:1"], false));
        assert_eq!(
            ok("type=image,name=app:1,push=true"),
            image(&["app:1"], true)
        );
        assert_eq!(
            ok("type=registry,name=r:5000/app"),
            image(&["r:5000/app"], true)
        );
        assert_eq!(
            ok("TYPE=image, Name=x:1"),
            image(&["x:1"], false),
            "keys are case-insensitive and trimmed (values are not), as buildx's"
        );
    }

    #[test]
    fn bad_values_name_what_is_wrong() {
        let error = |text: &str| format!("{:#}", parse(text).unwrap_err());
        assert_eq!(
            error("type=s3,dest=x"),
            "invalid --output `type=s3,dest=x`: unknown output type `s3` (local, tar, oci, docker, image or registry)"
        );
        assert_eq!(
            error("type=local,dest=x,mode=max"),
            "invalid --output `type=local,dest=x,mode=max`: unknown key `mode` for a local output (known: type, dest)"
        );
        assert!(error("type=local").ends_with("`dest` is required"));
        assert!(error("type=oci").ends_with("`dest` is required"));
        assert!(error("dest=x,push").contains("`push` is not of the form key=value"));
        assert!(error("dest=x,name=y").contains("`type` is required"));
        assert!(error("type=image,push=maybe").contains("`maybe` is not a boolean"));
        assert!(error("type=image,name=UPPER").contains("UPPER"));
        assert!(error("type=registry,name=a,compression=uncompressed")
            .contains("a registry needs compressed layers"));
        assert!(error("type=oci,dest=x,compression=lz4").contains("unknown compression `lz4`"));
        assert!(error("type=local,dest=-").contains("not stdout"));
    }

    #[test]
    fn tags_push_and_defaults_settle_as_in_buildx() {
        let tags = vec!["app:1".to_string()];
        let resolve = |values: &[&str], tags: &[String], push: bool| {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            resolve(&values, tags, push, false)
        };
        assert_eq!(
            resolve(&[], &tags, false).unwrap(),
            [image(&["app:1"], false)]
        );
        assert_eq!(
            resolve(&[], &tags, true).unwrap(),
            [image(&["app:1"], true)]
        );
        assert_eq!(
            resolve(&["type=image,name=other:2"], &tags, true).unwrap(),
            [image(&["app:1"], true)],
            "-t names every image output"
        );
        assert_eq!(
            resolve(&["type=local,dest=out"], &tags, false).unwrap(),
            [Output::Local { dest: "out".into() }],
            "a local output stores no image"
        );
        assert!(resolve(&[], &[], true)
            .unwrap_err()
            .to_string()
            .contains("tag is needed when pushing"));
        assert!(resolve(&["-", "type=oci,dest=-"], &[], false)
            .unwrap_err()
            .to_string()
            .contains("only one output can write to stdout"));
    }
}
