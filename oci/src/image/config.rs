//! The image config JSON ⇄ the frontend's [`ImageConfig`].
//!
//! The config is written as JSON directly rather than through `oci-spec`'s `ImageConfiguration`:
//! docker-only fields (`Healthcheck`, `OnBuild`, `Shell`) must be present, as BuildKit writes
//! them, and `oci-spec` keeps labels in a `HashMap`, whose order would change the config's
//! digest — the image ID — from run to run. `serde_json`'s maps are ordered, so the same config
//! always serialises to the same bytes.

use serde_json::{json, Map, Value};
use strata_cache::Digest;
use strata_frontend::config::{HealthConfig, ImageConfig};

/// One history entry as the config records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// RFC 3339 time.
    pub created: String,
    /// The instruction.
    pub created_by: String,
    /// No layer for this step.
    pub empty_layer: bool,
    /// Free text (`buildkit.dockerfile.v0`).
    pub comment: Option<String>,
}

/// Everything that goes into an image config.
pub struct ConfigParts<'a> {
    /// The container config.
    pub config: &'a ImageConfig,
    /// Layer DiffIDs, bottom first.
    pub diff_ids: &'a [Digest],
    /// History, oldest first.
    pub history: &'a [History],
    /// The image's creation time (RFC 3339).
    pub created: &'a str,
}

/// Builds the config JSON.
pub fn to_json(parts: &ConfigParts<'_>) -> Value {
    let c = parts.config;
    let mut config = Map::new();
    if !c.user.is_empty() {
        config.insert("User".into(), json!(c.user));
    }
    if !c.exposed_ports.is_empty() {
        let ports: Map<String, Value> = c
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), json!({})))
            .collect();
        config.insert("ExposedPorts".into(), Value::Object(ports));
    }
    if !c.env.is_empty() {
        let env: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        config.insert("Env".into(), json!(env));
    }
    if let Some(entrypoint) = &c.entrypoint {
        config.insert("Entrypoint".into(), json!(entrypoint));
    }
    if let Some(cmd) = &c.cmd {
        config.insert("Cmd".into(), json!(cmd));
    }
    if !c.volumes.is_empty() {
        let volumes: Map<String, Value> =
            c.volumes.iter().map(|p| (p.clone(), json!({}))).collect();
        config.insert("Volumes".into(), Value::Object(volumes));
    }
    if !c.workdir.is_empty() {
        config.insert("WorkingDir".into(), json!(c.workdir));
    }
    if !c.labels.is_empty() {
        config.insert("Labels".into(), json!(c.labels));
    }
    if let Some(signal) = &c.stop_signal {
        config.insert("StopSignal".into(), json!(signal));
    }
    if let Some(health) = &c.healthcheck {
        let mut h = Map::new();
        h.insert("Test".into(), json!(health.test));
        for (key, value) in [
            ("Interval", health.interval),
            ("Timeout", health.timeout),
            ("StartPeriod", health.start_period),
            ("StartInterval", health.start_interval),
        ] {
            if value != 0 {
                h.insert(key.into(), json!(value));
            }
        }
        if health.retries != 0 {
            h.insert("Retries".into(), json!(health.retries));
        }
        config.insert("Healthcheck".into(), Value::Object(h));
    }
    if !c.onbuild.is_empty() {
        config.insert("OnBuild".into(), json!(c.onbuild));
    }
    if !c.shell.is_empty() {
        config.insert("Shell".into(), json!(c.shell));
    }
    let history: Vec<Value> = parts
        .history
        .iter()
        .map(|h| {
            let mut entry = Map::new();
            entry.insert("created".into(), json!(h.created));
            if !h.created_by.is_empty() {
                entry.insert("created_by".into(), json!(h.created_by));
            }
            if let Some(comment) = &h.comment {
                entry.insert("comment".into(), json!(comment));
            }
            if h.empty_layer {
                entry.insert("empty_layer".into(), json!(true));
            }
            Value::Object(entry)
        })
        .collect();
    let mut root = Map::new();
    root.insert("architecture".into(), json!("amd64"));
    if let Some(author) = &c.author {
        root.insert("author".into(), json!(author));
    }
    root.insert("config".into(), Value::Object(config));
    root.insert("created".into(), json!(parts.created));
    root.insert("history".into(), json!(history));
    root.insert("os".into(), json!("linux"));
    let diff_ids: Vec<String> = parts.diff_ids.iter().map(|d| d.to_string()).collect();
    root.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    Value::Object(root)
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array().map(|items| {
        items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    })
}

/// Reads the container config of an image config JSON (what a stage based on it inherits).
pub fn from_json(root: &Value) -> ImageConfig {
    let c = &root["config"];
    let mut config = ImageConfig {
        user: c["User"].as_str().unwrap_or_default().to_string(),
        workdir: c["WorkingDir"].as_str().unwrap_or_default().to_string(),
        cmd: strings(&c["Cmd"]),
        entrypoint: strings(&c["Entrypoint"]),
        shell: strings(&c["Shell"]).unwrap_or_default(),
        stop_signal: c["StopSignal"].as_str().map(str::to_string),
        onbuild: strings(&c["OnBuild"]).unwrap_or_default(),
        author: root["author"].as_str().map(str::to_string),
        ..ImageConfig::default()
    };
    for entry in strings(&c["Env"]).unwrap_or_default() {
        let (key, value) = entry.split_once('=').unwrap_or((&entry, ""));
        config.set_env(key, value);
    }
    if let Some(labels) = c["Labels"].as_object() {
        for (key, value) in labels {
            config
                .labels
                .insert(key.clone(), value.as_str().unwrap_or_default().to_string());
        }
    }
    if let Some(ports) = c["ExposedPorts"].as_object() {
        config.exposed_ports.extend(ports.keys().cloned());
    }
    if let Some(volumes) = c["Volumes"].as_object() {
        config.volumes.extend(volumes.keys().cloned());
    }
    if let Some(test) = strings(&c["Healthcheck"]["Test"]) {
        let h = &c["Healthcheck"];
        config.healthcheck = Some(HealthConfig {
            test,
            interval: h["Interval"].as_u64().unwrap_or(0),
            timeout: h["Timeout"].as_u64().unwrap_or(0),
            start_period: h["StartPeriod"].as_u64().unwrap_or(0),
            start_interval: h["StartInterval"].as_u64().unwrap_or(0),
            retries: h["Retries"].as_u64().unwrap_or(0) as u32,
        });
    }
    config
}

/// The history entries of an image config JSON.
pub fn history_of(root: &Value) -> Vec<History> {
    root["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| History {
            created: h["created"].as_str().unwrap_or_default().to_string(),
            created_by: h["created_by"].as_str().unwrap_or_default().to_string(),
            empty_layer: h["empty_layer"].as_bool().unwrap_or(false),
            comment: h["comment"].as_str().map(str::to_string),
        })
        .collect()
}

/// The DiffIDs of an image config JSON.
pub(crate) fn diff_ids_of(root: &Value) -> Vec<Digest> {
    root["rootfs"]["diff_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str()?.parse().ok())
        .collect()
}

/// Formats unix seconds as RFC 3339 UTC (`2026-11-24T09:13:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_round_trip_including_docker_only_fields() {
        let mut config = ImageConfig::default();
        config.set_env("PATH", "/bin");
        config.cmd = Some(vec!["sh".into()]);
        config.shell = vec!["/bin/bash".into(), "-c".into()];
        config.onbuild = vec!["RUN x".into()];
        config.labels.insert("b".into(), "2".into());
        config.labels.insert("a".into(), "1".into());
        config.exposed_ports.insert("80/tcp".into());
        config.healthcheck = Some(HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 5_000_000_000,
            ..HealthConfig::default()
        });
        let d = Digest::of(b"layer");
        let json = to_json(&ConfigParts {
            config: &config,
            diff_ids: &[d],
            history: &[],
            created: "2026-01-01T00:00:00Z",
        });
        assert_eq!(from_json(&json), config);
        assert_eq!(diff_ids_of(&json), vec![d]);
        let again = to_json(&ConfigParts {
            config: &config,
            diff_ids: &[d],
            history: &[],
            created: "2026-01-01T00:00:00Z",
        });
        assert_eq!(
            serde_json::to_vec(&json).unwrap(),
            serde_json::to_vec(&again).unwrap()
        );
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // Checked against GNU `date -u -d @1795000000`.
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
