//! SLSA provenance v1 (<https://slsa.dev/spec/v1.1/provenance>): how an image was built, with
//! BuildKit's field definitions (`docs/attestations/slsa-definitions.md`), so that tools that
//! read buildx's provenance read strata's.
//!
//! The caller gathers the [`BuildFacts`] while building; [`predicate`] arranges them, leaving
//! out in `mode=min` (buildx's default) what may be sensitive — build args, labels, secret
//! ids — and saying so in `buildkit_completeness.request`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::intoto::digest_set;

/// The in-toto predicate type of a SLSA v1 provenance.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// The build type: strata fills the fields as BuildKit defines them, so it names BuildKit's
/// definitions (consumers pick their parser by this URI).
pub const BUILD_TYPE: &str =
    "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md";
/// The builder id when none is configured.
pub const DEFAULT_BUILDER_ID: &str = "https://github.com/strata-build/strata";

/// How much the provenance tells, as buildx's `--provenance=mode=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Sources and materials, no build args, labels or secret ids (buildx's default).
    #[default]
    Min,
    /// Everything, build args included.
    Max,
}

/// What `--provenance=…` asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// `mode=min|max`.
    pub mode: Mode,
    /// `builder-id=URI`: who ran the build (a CI run's URL); [`DEFAULT_BUILDER_ID`] otherwise.
    pub builder_id: Option<String>,
    /// `reproducible=true`: the user asserts the result is byte-for-byte reproducible.
    pub reproducible: bool,
}

impl Options {
    /// Parses a `--provenance` value as buildx does: `true`/`false`, or `key=value` pairs
    /// separated by commas (`mode=max,builder-id=https://ci/run/1`). None means disabled.
    pub fn parse(value: &str) -> Result<Option<Options>> {
        let invalid = |reason: String| Error::Option {
            flag: "--provenance",
            value: value.to_string(),
            reason,
        };
        match value.trim() {
            "" | "true" | "1" => return Ok(Some(Options::default())),
            "false" | "0" => return Ok(None),
            _ => {}
        }
        let mut options = Options::default();
        for pair in value.split(',') {
            let (key, val) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("expected KEY=VALUE, got `{pair}`")))?;
            match key.trim() {
                "mode" => {
                    options.mode = match val.trim() {
                        "min" => Mode::Min,
                        "max" | "full" => Mode::Max,
                        other => {
                            return Err(invalid(format!("mode must be min or max, not `{other}`")))
                        }
                    }
                }
                "builder-id" => options.builder_id = Some(val.trim().to_string()),
                "reproducible" => {
                    options.reproducible = parse_bool(val).ok_or_else(|| {
                        invalid(format!("reproducible must be true or false, not `{val}`"))
                    })?
                }
                "disabled" => {
                    if parse_bool(val) == Some(true) {
                        return Ok(None);
                    }
                }
                "version" if val.trim() == "v1" => {}
                "version" => {
                    return Err(invalid("only SLSA provenance version v1 is written".into()))
                }
                other => return Err(invalid(format!("unknown key `{other}`"))),
            }
        }
        Ok(Some(options))
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Something the build used that came from outside: a base image, a file ADDed from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// A base image (`FROM`, `COPY --from=image`), by the reference the Dockerfile gave and the
    /// manifest digest it resolved to.
    Image {
        /// `alpine:3.19`, `registry.example/team/base:1`.
        reference: String,
        /// `linux/amd64`, when known.
        platform: Option<String>,
        /// `sha256:…` of the manifest used.
        digest: String,
    },
    /// A file fetched by `ADD https://…`, with the checksum of what was fetched.
    Http {
        /// The URL as written.
        url: String,
        /// `sha256:…` of the bytes.
        digest: String,
    },
}

/// The Dockerfile that defined the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// Its path as given (`Dockerfile`, `build/Dockerfile.ci`).
    pub path: String,
    /// `sha256:…` of its text.
    pub digest: String,
}

/// Everything the build knew that provenance records.
#[derive(Debug, Clone)]
pub struct BuildFacts {
    /// A unique id of this build run.
    pub invocation_id: String,
    /// When the build started.
    pub started_on: SystemTime,
    /// When it finished.
    pub finished_on: SystemTime,
    /// The Dockerfile, if it came from a file or stdin.
    pub dockerfile: Option<ConfigSource>,
    /// `sha256:…` of the build context's tree (paths, modes, contents of what the build could
    /// see); None for a build without a context.
    pub context_digest: Option<String>,
    /// `--target`.
    pub target: Option<String>,
    /// The platform built for (`linux/amd64`).
    pub platform: String,
    /// The platform of the machine that built it.
    pub builder_platform: String,
    /// `--build-arg`s (written in `mode=max` only).
    pub build_args: BTreeMap<String, String>,
    /// `--label`s (written in `mode=max` only).
    pub labels: BTreeMap<String, String>,
    /// The ids of `--secret`s (never their values; written in `mode=max` only).
    pub secret_ids: Vec<String>,
    /// Base images and fetched files.
    pub materials: Vec<Material>,
    /// Whether any step could reach the network (a RUN without `--network=none`, an ADD of a
    /// URL): such a build is not hermetic.
    pub network_access: bool,
}

/// A SLSA v1 provenance predicate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    build_definition: BuildDefinition,
    run_details: RunDetails,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildDefinition {
    build_type: &'static str,
    external_parameters: ExternalParameters,
    internal_parameters: InternalParameters,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalParameters {
    config_source: ConfigSourceJson,
    request: Request,
}

#[derive(Debug, Clone, Serialize)]
struct ConfigSourceJson {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    digest: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Request {
    frontend: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<NamedId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locals: Vec<NamedLocal>,
}

#[derive(Debug, Clone, Serialize)]
struct NamedId {
    id: String,
}

#[derive(Debug, Clone, Serialize)]
struct NamedLocal {
    name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct InternalParameters {
    builder_platform: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct ResourceDescriptor {
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    digest: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct RunDetails {
    builder: Builder,
    metadata: Metadata,
}

#[derive(Debug, Clone, Serialize)]
struct Builder {
    id: String,
    version: BTreeMap<&'static str, &'static str>,
}

/// SLSA's `BuildMetadata` fields (camel case) and BuildKit's extension fields (snake case,
/// `buildkit_` prefixed) side by side, as BuildKit writes them.
#[derive(Debug, Clone, Serialize)]
struct Metadata {
    #[serde(rename = "invocationId")]
    invocation_id: String,
    #[serde(rename = "startedOn")]
    started_on: String,
    #[serde(rename = "finishedOn")]
    finished_on: String,
    buildkit_metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    buildkit_hermetic: bool,
    buildkit_completeness: Completeness,
    #[serde(skip_serializing_if = "is_false")]
    buildkit_reproducible: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Completeness {
    request: bool,
    resolved_dependencies: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// Arranges the facts as a SLSA v1 predicate. Fails only on a digest that is not
/// `sha256:<hex>`.
pub fn predicate(facts: &BuildFacts, options: &Options) -> Result<Predicate> {
    let max = options.mode == Mode::Max;
    let mut args = BTreeMap::new();
    if let Some(target) = &facts.target {
        args.insert("target".to_string(), target.clone());
    }
    args.insert("platform".to_string(), facts.platform.clone());
    let withheld =
        !facts.build_args.is_empty() || !facts.labels.is_empty() || !facts.secret_ids.is_empty();
    let mut secrets = Vec::new();
    if max {
        for (key, value) in &facts.build_args {
            args.insert(format!("build-arg:{key}"), value.clone());
        }
        for (key, value) in &facts.labels {
            args.insert(format!("label:{key}"), value.clone());
        }
        secrets = facts
            .secret_ids
            .iter()
            .map(|id| NamedId { id: id.clone() })
            .collect();
    }
    let mut locals = Vec::new();
    if facts.context_digest.is_some() {
        locals.push(NamedLocal { name: "context" });
    }
    if facts.dockerfile.is_some() {
        locals.push(NamedLocal { name: "dockerfile" });
    }
    let config_source = match &facts.dockerfile {
        Some(dockerfile) => ConfigSourceJson {
            digest: digest_set(&dockerfile.digest)?,
            path: Some(dockerfile.path.clone()),
        },
        None => ConfigSourceJson {
            digest: BTreeMap::new(),
            path: None,
        },
    };
    let mut resolved = Vec::new();
    for material in &facts.materials {
        resolved.push(match material {
            Material::Image {
                reference,
                platform,
                digest,
            } => ResourceDescriptor {
                uri: Some(crate::purl::image(reference, platform.as_deref())),
                digest: digest_set(digest)?,
                name: None,
            },
            Material::Http { url, digest } => ResourceDescriptor {
                uri: Some(url.clone()),
                digest: digest_set(digest)?,
                name: None,
            },
        });
    }
    if let Some(context) = &facts.context_digest {
        // A local directory has no URI: it is named, and pinned by its tree digest.
        resolved.push(ResourceDescriptor {
            uri: None,
            digest: digest_set(context)?,
            name: Some("context".to_string()),
        });
    }
    resolved.dedup();
    // Every material carries its digest and the context is pinned by its tree digest, so the
    // list is complete (BuildKit marks local contexts incomplete: it does not hash them).
    // What a RUN downloads is not a material: that is what `buildkit_hermetic` tells.
    let complete_dependencies = true;
    Ok(Predicate {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE,
            external_parameters: ExternalParameters {
                config_source,
                request: Request {
                    frontend: "dockerfile.v0",
                    args,
                    secrets,
                    locals,
                },
            },
            internal_parameters: InternalParameters {
                builder_platform: facts.builder_platform.clone(),
            },
            resolved_dependencies: resolved,
        },
        run_details: RunDetails {
            builder: Builder {
                id: options
                    .builder_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BUILDER_ID.to_string()),
                version: BTreeMap::from([("strata", env!("CARGO_PKG_VERSION"))]),
            },
            metadata: Metadata {
                invocation_id: facts.invocation_id.clone(),
                started_on: crate::time::rfc3339_nanos(facts.started_on),
                finished_on: crate::time::rfc3339_nanos(facts.finished_on),
                buildkit_metadata: BTreeMap::new(),
                buildkit_hermetic: complete_dependencies && !facts.network_access,
                buildkit_completeness: Completeness {
                    request: max || !withheld,
                    resolved_dependencies: complete_dependencies,
                },
                buildkit_reproducible: options.reproducible,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::{json, Value};

    use super::*;
    use crate::intoto::sha256_digest;

    fn facts() -> BuildFacts {
        BuildFacts {
            invocation_id: "inv-1".to_string(),
            started_on: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
            finished_on: UNIX_EPOCH + Duration::from_secs(1_700_000_010),
            dockerfile: Some(ConfigSource {
                path: "Dockerfile".to_string(),
                digest: sha256_digest(b"FROM alpine"),
            }),
            context_digest: Some(sha256_digest(b"tree")),
            target: Some("release".to_string()),
            platform: "linux/amd64".to_string(),
            builder_platform: "linux/amd64".to_string(),
            build_args: BTreeMap::from([("VERSION".to_string(), "1.2".to_string())]),
            labels: BTreeMap::from([("team".to_string(), "infra".to_string())]),
            secret_ids: vec!["npmrc".to_string()],
            materials: vec![
                Material::Image {
                    reference: "docker.io/library/alpine:3.19".to_string(),
                    platform: Some("linux/amd64".to_string()),
                    digest: sha256_digest(b"alpine"),
                },
                Material::Http {
                    url: "https://example.com/tool.tgz".to_string(),
                    digest: sha256_digest(b"tool"),
                },
            ],
            network_access: true,
        }
    }

    fn json_of(facts: &BuildFacts, options: &Options) -> Value {
        serde_json::to_value(predicate(facts, options).unwrap()).unwrap()
    }

    #[test]
    fn min_mode_leaves_out_build_args_labels_and_secrets() {
        let p = json_of(&facts(), &Options::default());
        let request = &p["buildDefinition"]["externalParameters"]["request"];
        assert_eq!(request["frontend"], "dockerfile.v0");
        assert_eq!(
            request["args"],
            json!({"target": "release", "platform": "linux/amd64"})
        );
        assert!(request.get("secrets").is_none());
        assert!(!p.to_string().contains("VERSION"));
        assert!(!p.to_string().contains("infra"));
        assert_eq!(
            p["runDetails"]["metadata"]["buildkit_completeness"],
            json!({"request": false, "resolvedDependencies": true})
        );
    }

    #[test]
    fn max_mode_records_every_request_input() {
        let options = Options::parse("mode=max,builder-id=https://ci.example/run/7")
            .unwrap()
            .unwrap();
        let p = json_of(&facts(), &options);
        let request = &p["buildDefinition"]["externalParameters"]["request"];
        assert_eq!(request["args"]["build-arg:VERSION"], "1.2");
        assert_eq!(request["args"]["label:team"], "infra");
        assert_eq!(request["secrets"], json!([{"id": "npmrc"}]));
        assert_eq!(
            request["locals"],
            json!([{"name": "context"}, {"name": "dockerfile"}])
        );
        assert_eq!(p["runDetails"]["builder"]["id"], "https://ci.example/run/7");
        assert_eq!(
            p["runDetails"]["metadata"]["buildkit_completeness"]["request"],
            true
        );
    }

    #[test]
    fn fields_are_named_as_buildkit_names_them() {
        let p = json_of(&facts(), &Options::default());
        let definition = &p["buildDefinition"];
        assert_eq!(definition["buildType"], BUILD_TYPE);
        assert_eq!(
            definition["externalParameters"]["configSource"],
            json!({"digest": {"sha256": &sha256_digest(b"FROM alpine")[7..]}, "path": "Dockerfile"})
        );
        assert_eq!(
            definition["internalParameters"]["builderPlatform"],
            "linux/amd64"
        );
        assert_eq!(
            definition["resolvedDependencies"],
            json!([
                {"uri": "pkg:docker/alpine@3.19?platform=linux%2Famd64",
                 "digest": {"sha256": &sha256_digest(b"alpine")[7..]}},
                {"uri": "https://example.com/tool.tgz",
                 "digest": {"sha256": &sha256_digest(b"tool")[7..]}},
                {"name": "context", "digest": {"sha256": &sha256_digest(b"tree")[7..]}},
            ])
        );
        let metadata = &p["runDetails"]["metadata"];
        assert_eq!(metadata["invocationId"], "inv-1");
        assert_eq!(metadata["startedOn"], "2023-11-14T22:13:20.250Z");
        assert_eq!(metadata["finishedOn"], "2023-11-14T22:13:30Z");
        assert_eq!(metadata["buildkit_metadata"], json!({}));
        // It reached the network: not hermetic (the flag is left out when false, as BuildKit).
        assert!(metadata.get("buildkit_hermetic").is_none());
        assert!(metadata.get("buildkit_reproducible").is_none());
        assert_eq!(p["runDetails"]["builder"]["id"], DEFAULT_BUILDER_ID);
        assert_eq!(
            p["runDetails"]["builder"]["version"]["strata"],
            env!("CARGO_PKG_VERSION")
        );

        let mut offline = facts();
        offline.network_access = false;
        let options = Options::parse("reproducible=true").unwrap().unwrap();
        let p = json_of(&offline, &options);
        assert_eq!(p["runDetails"]["metadata"]["buildkit_hermetic"], true);
        assert_eq!(p["runDetails"]["metadata"]["buildkit_reproducible"], true);
    }

    #[test]
    fn options_parse_as_buildx() {
        assert_eq!(Options::parse("true").unwrap(), Some(Options::default()));
        assert_eq!(Options::parse("false").unwrap(), None);
        assert_eq!(Options::parse("disabled=true").unwrap(), None);
        assert_eq!(Options::parse("mode=max").unwrap().unwrap().mode, Mode::Max);
        assert_eq!(Options::parse("mode=min").unwrap().unwrap().mode, Mode::Min);
        for bad in [
            "mode=most",
            "max",
            "colour=blue",
            "version=v0.2",
            "reproducible=maybe",
        ] {
            assert!(Options::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_material_digests_are_refused() {
        let mut bad = facts();
        bad.materials.push(Material::Http {
            url: "https://x".to_string(),
            digest: "md5:abc".to_string(),
        });
        assert!(predicate(&bad, &Options::default()).is_err());
    }
}
