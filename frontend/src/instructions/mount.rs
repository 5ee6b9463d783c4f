//! `RUN --mount=type=…,key=value,…` specs, parsed and checked (BuildKit's `runmount.go`).

use std::collections::BTreeMap;

/// The mount types BuildKit has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A directory from the context or another stage, read-only by default.
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file.
    Secret,
    /// The SSH agent socket.
    Ssh,
}

/// A parsed mount spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The type.
    pub kind: MountKind,
    /// Where it appears in the container (`target`/`dst`/`destination`).
    pub target: Option<String>,
    /// The other keys, normalised (`src` → `source`, `ro`/`readonly`, …).
    pub options: BTreeMap<String, String>,
}

impl Mount {
    /// Parses one `--mount` value.
    pub fn parse(spec: &str) -> Result<Mount, String> {
        let mut kind = MountKind::Bind;
        let mut target = None;
        let mut options = BTreeMap::new();
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_lowercase(), v.trim().to_string()),
                None => (field.trim().to_lowercase(), String::new()),
            };
            match key.as_str() {
                "type" => {
                    kind = match value.as_str() {
                        "bind" => MountKind::Bind,
                        "cache" => MountKind::Cache,
                        "tmpfs" => MountKind::Tmpfs,
                        "secret" => MountKind::Secret,
                        "ssh" => MountKind::Ssh,
                        other => return Err(format!("unsupported mount type {other:?}")),
                    }
                }
                "target" | "dst" | "destination" => target = Some(value),
                "source" | "src" => {
                    options.insert("source".into(), value);
                }
                "ro" | "readonly" => {
                    options.insert("readonly".into(), bool_value(&key, &value)?);
                }
                "rw" | "readwrite" => {
                    let rw = bool_value(&key, &value)?;
                    options.insert("readonly".into(), (rw == "false").to_string());
                }
                "from" | "id" | "sharing" | "mode" | "uid" | "gid" | "size" | "required"
                | "env" => {
                    options.insert(key, value);
                }
                other => return Err(format!("unexpected key '{other}' in '{field}'")),
            }
        }
        if target.is_none() && matches!(kind, MountKind::Bind | MountKind::Cache | MountKind::Tmpfs)
        {
            return Err(format!("mount {spec:?} has no target"));
        }
        if let Some(sharing) = options.get("sharing") {
            if !matches!(sharing.as_str(), "shared" | "private" | "locked") {
                return Err(format!("unsupported sharing value {sharing:?}"));
            }
        }
        Ok(Mount {
            kind,
            target,
            options,
        })
    }
}

fn bool_value(key: &str, value: &str) -> Result<String, String> {
    match value {
        "" | "true" | "1" => Ok("true".into()),
        "false" | "0" => Ok("false".into()),
        other => Err(format!("invalid value for {key}: {other}")),
    }
}
