//! The image configuration a stage accumulates (docker's `Config` plus history), in the
//! frontend's own terms. The builder converts it to and from OCI/docker JSON; the frontend only
//! needs the fields instructions read or write.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The container configuration of an image, as docker's image config `config` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `KEY=value` pairs in order; a later ENV replaces the value in place.
    pub env: Vec<(String, String)>,
    /// `USER`.
    pub user: String,
    /// `WORKDIR` (absolute), empty for the default `/`.
    pub workdir: String,
    /// `CMD`.
    pub cmd: Option<Vec<String>>,
    /// `ENTRYPOINT`.
    pub entrypoint: Option<Vec<String>>,
    /// `SHELL`, empty for the default `["/bin/sh", "-c"]`.
    pub shell: Vec<String>,
    /// `LABEL`s.
    pub labels: BTreeMap<String, String>,
    /// `EXPOSE`d ports as `port/proto`.
    pub exposed_ports: BTreeSet<String>,
    /// `VOLUME`s.
    pub volumes: BTreeSet<String>,
    /// `STOPSIGNAL`.
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK`.
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers, as written.
    pub onbuild: Vec<String>,
    /// `MAINTAINER` (the image's `author`).
    pub author: Option<String>,
}

/// docker's `Healthcheck` object (durations in nanoseconds, 0 = default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// `--interval`.
    pub interval: u64,
    /// `--timeout`.
    pub timeout: u64,
    /// `--start-period`.
    pub start_period: u64,
    /// `--start-interval`.
    pub start_interval: u64,
    /// `--retries`.
    pub retries: u32,
}

/// One entry of an image's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// What made it (`RUN /bin/sh -c make # buildkit`).
    pub created_by: String,
    /// True when the step changed only the config.
    pub empty_layer: bool,
}

impl ImageConfig {
    /// Sets or replaces an environment variable (ENV keeps the first position of a key).
    pub fn set_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.env.push((key.to_string(), value.to_string())),
        }
    }

    /// The shell for shell-form commands.
    pub fn shell_or_default(&self) -> Vec<String> {
        if self.shell.is_empty() {
            vec!["/bin/sh".into(), "-c".into()]
        } else {
            self.shell.clone()
        }
    }

    /// The working directory, `/` when unset.
    pub fn workdir_or_root(&self) -> String {
        if self.workdir.is_empty() {
            "/".into()
        } else {
            self.workdir.clone()
        }
    }
}
