//! `--cache-to` / `--cache-from` values: docker's CSV form (`type=local,dest=DIR,mode=max`),
//! with docker's shorthand of a bare reference for a registry cache (`--cache-from app:cache`).
//! Unknown types and keys are errors that name them, as buildx refuses them.

use std::path::PathBuf;

use crate::error::{Error, Result};
use strata_frontend::instructions::csv_record;

/// Which steps a cache export carries (BuildKit's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// The steps of the final image only: the target stage's chain.
    #[default]
    Min,
    /// Every step of every stage the build ran or found in a cache.
    Max,
}

/// Where a cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// An OCI image layout directory.
    Local(PathBuf),
    /// A registry reference (`host[:port]/path/name[:tag]`).
    Registry(String),
}

/// A parsed `--cache-to` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTo {
    /// Where to write.
    pub location: CacheLocation,
    /// Which steps.
    pub mode: CacheMode,
}

/// A parsed `--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFrom {
    /// Where to read.
    pub location: CacheLocation,
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Local(dir) => write!(f, "local cache `{}`", dir.display()),
            CacheLocation::Registry(reference) => write!(f, "registry cache `{reference}`"),
        }
    }
}

/// Parses a `--cache-to` value (a bare reference means `type=registry,ref=…`).
pub fn parse_cache_to(text: &str) -> Result<CacheTo> {
    if !text.contains('=') && !text.trim().is_empty() {
        return Ok(CacheTo {
            location: CacheLocation::Registry(text.trim().to_string()),
            mode: CacheMode::Min,
        });
    }
    let flag = "--cache-to";
    let fields = fields("--cache-to", text)?;
    let kind = cache_type("--cache-to", text, &fields)?;
    let mut mode = CacheMode::Min;
    let mut location = None;
    for (key, value) in &fields {
        match (kind.as_str(), key.as_str()) {
            (_, "type") => {}
            (_, "mode") => {
                mode = match value.as_str() {
                    "min" => CacheMode::Min,
                    "max" => CacheMode::Max,
                    other => {
                        return Err(invalid(
                            "--cache-to",
                            text,
                            format!("invalid mode `{other}` (expected `min` or `max`)"),
                        ))
                    }
                }
            }
            ("local", "dest") => {
                location = Some(CacheLocation::Local(
                    nonempty(flag, text, key, value)?.into(),
                ))
            }
            ("registry", "ref") => {
                location = Some(CacheLocation::Registry(nonempty(flag, text, key, value)?))
            }
            // Options BuildKit has that change nothing in strata's format are refused rather
            // than silently ignored: the user would expect them to work.
            (kind, key) => return Err(unknown_key("--cache-to", text, kind, key)),
        }
    }
    let location = location.ok_or_else(|| {
        invalid(
            "--cache-to",
            text,
            match kind.as_str() {
                "local" => "`dest` is required for a local cache".to_string(),
                _ => "`ref` is required for a registry cache".to_string(),
            },
        )
    })?;
    Ok(CacheTo { location, mode })
}

/// Parses a `--cache-from` value (a bare reference means `type=registry,ref=…`).
pub fn parse_cache_from(text: &str) -> Result<CacheFrom> {
    if !text.contains('=') && !text.trim().is_empty() {
        return Ok(CacheFrom {
            location: CacheLocation::Registry(text.trim().to_string()),
        });
    }
    let flag = "--cache-from";
    let fields = fields(flag, text)?;
    let kind = cache_type("--cache-from", text, &fields)?;
    let mut location = None;
    for (key, value) in &fields {
        match (kind.as_str(), key.as_str()) {
            (_, "type") => {}
            // docker accepts a mode on --cache-from (it is an export option) and ignores it.
            (_, "mode") => {}
            ("local", "src") => {
                location = Some(CacheLocation::Local(
                    nonempty(flag, text, key, value)?.into(),
                ))
            }
            ("registry", "ref") => {
                location = Some(CacheLocation::Registry(nonempty(flag, text, key, value)?))
            }
            (kind, key) => return Err(unknown_key("--cache-from", text, kind, key)),
        }
    }
    let location = location.ok_or_else(|| {
        invalid(
            "--cache-from",
            text,
            match kind.as_str() {
                "local" => "`src` is required for a local cache".to_string(),
                _ => "`ref` is required for a registry cache".to_string(),
            },
        )
    })?;
    Ok(CacheFrom { location })
}

fn invalid(flag: &str, text: &str, reason: String) -> Error {
    Error::CacheSpec {
        flag: flag.to_string(),
        value: text.to_string(),
        reason,
    }
}

fn unknown_key(flag: &str, text: &str, kind: &str, key: &str) -> Error {
    let known = match (flag, kind) {
        ("--cache-to", "local") => "type, dest, mode",
        ("--cache-to", _) => "type, ref, mode",
        (_, "local") => "type, src",
        _ => "type, ref",
    };
    invalid(
        flag,
        text,
        format!("unknown key `{key}` for a {kind} cache (known: {known})"),
    )
}

fn nonempty(flag: &str, text: &str, key: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(invalid(flag, text, format!("`{key}` must not be empty")));
    }
    Ok(value.to_string())
}

fn cache_type(flag: &str, text: &str, fields: &[(String, String)]) -> Result<String> {
    let kind = fields
        .iter()
        .rev()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| invalid(flag, text, "`type` is required (local or registry)".into()))?;
    match kind.as_str() {
        "local" | "registry" => Ok(kind),
        other => Err(invalid(
            flag,
            text,
            format!("unsupported cache type `{other}` (strata has `local` and `registry`)"),
        )),
    }
}

/// The `key=value` fields of a spec, read as one CSV record the way buildx reads it (Go's
/// encoding/csv: `"key=a,b"` protects a comma); empty fields are skipped.
fn fields(flag: &str, text: &str) -> Result<Vec<(String, String)>> {
    let record = csv_record(text).map_err(|why| invalid(flag, text, why.to_string()))?;
    let mut out = Vec::new();
    for field in &record {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let (key, value) = field.split_once('=').ok_or_else(|| {
            invalid(
                flag,
                text,
                format!("`{field}` is not of the form key=value"),
            )
        })?;
        out.push((key.trim().to_ascii_lowercase(), value.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_registry_forms_parse() {
        assert_eq!(
            parse_cache_to("type=local,dest=/tmp/c,mode=max").unwrap(),
            CacheTo {
                location: CacheLocation::Local("/tmp/c".into()),
                mode: CacheMode::Max
            }
        );
        assert_eq!(
            parse_cache_to("type=registry,ref=127.0.0.1:5000/app:cache").unwrap(),
            CacheTo {
                location: CacheLocation::Registry("127.0.0.1:5000/app:cache".into()),
                mode: CacheMode::Min
            }
        );
        assert_eq!(
            parse_cache_from("type=local,src=\"/a,b\"")
                .unwrap_err()
                .to_string(),
            "invalid --cache-from `type=local,src=\"/a,b\"`: bare \" in non-quoted-field"
        );
        assert_eq!(
            parse_cache_from("type=local,\"src=/a,b\"")
                .unwrap()
                .location,
            CacheLocation::Local("/a,b".into())
        );
        assert_eq!(
            parse_cache_to("app:cache").unwrap().location,
            CacheLocation::Registry("app:cache".into())
        );
        assert_eq!(
            parse_cache_from("app:cache").unwrap().location,
            CacheLocation::Registry("app:cache".into())
        );
    }

    #[test]
    fn bad_specs_name_what_is_wrong() {
        let message = |r: Result<CacheTo>| r.unwrap_err().to_string();
        assert!(message(parse_cache_to("type=s3,bucket=x")).contains("unsupported cache type `s3`"));
        assert!(message(parse_cache_to("type=local,src=/x"))
            .contains("unknown key `src` for a local cache"));
        assert!(message(parse_cache_to("type=local")).contains("`dest` is required"));
        assert!(
            message(parse_cache_to("type=local,dest=/x,mode=all")).contains("invalid mode `all`")
        );
        assert!(message(parse_cache_to("dest=/x")).contains("`type` is required"));
        assert!(message(parse_cache_to("type=local,dest"))
            .contains("`dest` is not of the form key=value"));
        assert!(parse_cache_from("type=registry,dest=/x")
            .unwrap_err()
            .to_string()
            .contains("unknown key `dest` for a registry cache (known: type, ref)"));
    }
}
