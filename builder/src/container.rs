//! Containers for `strata run`: how an image's config and docker run's options make the
//! command, environment, user and working directory of a container (docker's rules, checked
//! against dockerd 20.10 by the integration tests), docker's `--env-file` format, and
//! `commit`: a container's writable layer as a new image.
//!
//! The sandbox that runs the container is the one RUN steps use ([`crate::sandbox`]); the
//! record and the writable layer live in the store ([`strata_cache::containers`]).
//!
//! ```
//! use strata_builder::container::{resolve, RunOptions};
//! let image = serde_json::json!({"config": {"Entrypoint": ["echo", "ep"], "Cmd": ["cmd"]}});
//! let run = resolve(&image, &RunOptions { command: &["a".into()], ..Default::default() }).unwrap();
//! assert_eq!(run.argv, ["echo", "ep", "a"]);
//! ```

use std::io::Seek as _;

use serde_json::{json, Value};
use strata_cache::{ContainerRecord, Digest, Store};

use crate::error::{Error, Result};
use strata_oci::commit_dir;
use strata_oci::image::{self, config as image_config, StoredImage};
use strata_oci::{extract_layer, write_layer, LayerOptions};

/// docker's `PATH` for a container whose image sets none (`system.DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// docker run's options that shape the process.
#[derive(Debug, Default, Clone)]
pub struct RunOptions<'a> {
    /// `--entrypoint`: `Some("")` clears the image's.
    pub entrypoint: Option<&'a str>,
    /// The arguments after the image.
    pub command: &'a [String],
    /// `--env-file` entries then `-e` ones, in order: `K=V`, or a bare `K` (unset: it removes
    /// `K`, as docker's `ReplaceOrAppendEnvValues`). See [`expand_env`] for `-e K`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<&'a str>,
    /// `-u`.
    pub user: Option<&'a str>,
    /// `-t`: `TERM=xterm`.
    pub tty: bool,
    /// The container's hostname (`HOSTNAME`).
    pub hostname: &'a str,
}

/// What the container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Entrypoint then arguments.
    pub argv: Vec<String>,
    /// The part of `argv` that is the entrypoint (what `commit` records as `Entrypoint`).
    pub entrypoint_len: usize,
    /// The process environment, in docker's order.
    pub env: Vec<(String, String)>,
    /// The container config's `Env` (image env with the user's over it; what `commit` keeps).
    pub config_env: Vec<String>,
    /// Absolute working directory.
    pub cwd: String,
    /// User spec (empty: root).
    pub user: String,
}

/// Applies docker's rules: a user `--entrypoint` replaces the image's and drops its `Cmd`
/// (`--entrypoint ""` clears both); otherwise arguments replace `Cmd`; `-w` must be absolute;
/// the environment is docker's defaults (`PATH`, `HOSTNAME`, `TERM` with `-t`) under the
/// image's `Env` under the user's.
pub fn resolve(image_config: &Value, options: &RunOptions<'_>) -> Result<Resolved> {
    let config = &image_config["config"];
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (entrypoint, cmd) = match options.entrypoint {
        Some("") => (Vec::new(), options.command.to_vec()),
        Some(ep) => (vec![ep.to_string()], options.command.to_vec()),
        None if options.command.is_empty() => {
            (strings(&config["Entrypoint"]), strings(&config["Cmd"]))
        }
        None => (strings(&config["Entrypoint"]), options.command.to_vec()),
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(Error::Container {
            reason: "no command specified".into(),
        });
    }
    let workdir = match options.workdir {
        Some(dir) if !dir.starts_with('/') => {
            return Err(Error::Container {
                reason: format!(
                    "the working directory '{dir}' is invalid, it needs to be an absolute path"
                ),
            })
        }
        Some(dir) => dir.to_string(),
        None => config["WorkingDir"].as_str().unwrap_or("").to_string(),
    };
    let user = match options.user {
        Some(user) => user.to_string(),
        None => config["User"].as_str().unwrap_or("").to_string(),
    };
    // The container config's Env: the user's entries, then the image's whose key the user
    // did not name (daemon `merge`).
    let key = |entry: &str| entry.split('=').next().unwrap_or("").to_string();
    let mut config_env = options.env.clone();
    for entry in strings(&config["Env"]) {
        if !options.env.iter().any(|user| key(user) == key(&entry)) {
            config_env.push(entry);
        }
    }
    // The process env: docker's defaults, then the config's over them.
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), options.hostname.into()),
    ];
    if options.tty {
        env.push(("TERM".into(), "xterm".into()));
    }
    for entry in &config_env {
        match entry.split_once('=') {
            Some((k, v)) => match env.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = v.to_string(),
                None => env.push((k.to_string(), v.to_string())),
            },
            None => env.retain(|(key, _)| key != entry),
        }
    }
    let entrypoint_len = entrypoint.len();
    let mut argv = entrypoint;
    argv.extend(cmd);
    Ok(Resolved {
        argv,
        entrypoint_len,
        env,
        config_env,
        cwd: if workdir.is_empty() {
            "/".into()
        } else {
            workdir
        },
        user,
    })
}

/// `-e K` takes the host's value of `K` when it has one; `-e K=V` is as given.
pub fn expand_env(entry: &str, host: impl Fn(&str) -> Option<String>) -> String {
    if entry.contains('=') {
        return entry.to_string();
    }
    match host(entry) {
        Some(value) => format!("{entry}={value}"),
        None => entry.to_string(),
    }
}

/// Parses an `--env-file` as docker 20.10 does (`opts.ParseEnvFile`): a line per variable,
/// leading whitespace dropped, empty lines and `#` lines skipped, `K=V` taken as it is (no
/// quotes, no trimming of the value), a bare `K` takes the host's value if it has one and is
/// left out if not (while `-e K` unset removes `K`: dockerd 20.10 does both). A key
/// with whitespace or an empty key is an error naming the file and line.
pub fn parse_env_file(
    path: &str,
    text: &[u8],
    host: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let bad = |line: usize, reason: String| Error::Container {
        reason: format!("env file `{path}` line {line}: {reason}"),
    };
    let mut out = Vec::new();
    for (n, raw) in text.split(|b| *b == b'\n').enumerate() {
        let raw = if n == 0 {
            raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw)
        } else {
            raw
        };
        let line = std::str::from_utf8(raw)
            .map_err(|_| bad(n + 1, "contains invalid utf8 bytes".into()))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = line.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (variable, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if variable.contains(char::is_whitespace) {
            return Err(bad(
                n + 1,
                format!("variable '{variable}' contains whitespaces"),
            ));
        }
        if variable.is_empty() {
            return Err(bad(n + 1, format!("no variable name on line '{line}'")));
        }
        match value {
            Some(value) => out.push(format!("{variable}={value}")),
            // Unlike `-e K`, a bare `K` the host does not set is dropped, not an unset.
            None => out.extend(host(variable).map(|value| format!("{variable}={value}"))),
        }
    }
    Ok(out)
}

/// The container's config as `commit` writes it (docker's: the image's, with the run's
/// command, entrypoint, env, working directory and user).
pub fn container_config(image_config: &Value, run: &Resolved, options: &RunOptions<'_>) -> Value {
    let mut config = image_config.clone();
    let c = &mut config["config"];
    if !c.is_object() {
        *c = json!({});
    }
    c["Env"] = json!(run.config_env);
    c["Entrypoint"] = if run.entrypoint_len == 0 {
        Value::Null
    } else {
        json!(run.argv[..run.entrypoint_len])
    };
    c["Cmd"] = if run.argv.len() == run.entrypoint_len {
        Value::Null
    } else {
        json!(run.argv[run.entrypoint_len..])
    };
    if let Some(dir) = options.workdir {
        c["WorkingDir"] = json!(dir);
    }
    if let Some(user) = options.user {
        c["User"] = json!(user);
    }
    config
}

/// Makes an image of a container: its image plus one layer holding what the container
/// changed (none if it changed nothing), as `docker commit`. `upper` is its overlay upper dir.
pub fn commit(
    store: &Store,
    record: &ContainerRecord,
    upper: &std::path::Path,
    message: Option<&str>,
) -> Result<StoredImage> {
    // The upper dir stays the container's: its tar goes through a temp file into a fresh
    // snapshot (whiteouts and opaque dirs converted both ways by the layer code).
    let mut tar = tempfile::tempfile_in(store.tmp_dir()).map_err(|e| Error::Io {
        path: store.tmp_dir(),
        source: e,
    })?;
    let io = |source| Error::Io {
        path: upper.to_path_buf(),
        source,
    };
    write_layer(upper, &LayerOptions::default(), &mut tar)?;
    tar.rewind().map_err(io)?;
    let scratch = store.snapshots().scratch("commit")?;
    extract_layer(&mut tar, scratch.path())?;
    let diff_id = commit_dir(store, scratch, &LayerOptions::default())?;
    let mut config = record.image_config.clone();
    let created = image_config::rfc3339(strata_cache::now());
    let mut diff_ids: Vec<Digest> = record.layers.clone();
    diff_ids.extend(diff_id);
    config["created"] = json!(created);
    config["rootfs"] = json!({
        "type": "layers",
        "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    });
    let mut entry = json!({"created": created, "created_by": record.command.join(" ")});
    if let Some(message) = message {
        entry["comment"] = json!(message);
        config["comment"] = json!(message);
    }
    if diff_id.is_none() {
        entry["empty_layer"] = json!(true);
    }
    match config["history"].as_array_mut() {
        Some(history) => history.push(entry),
        None => config["history"] = json!([entry]),
    }
    let mut layers = Vec::new();
    for d in &diff_ids {
        let size = match store.index().layer(d)? {
            Some(record) => record.size,
            None => store.snapshots().disk_size(d)?,
        };
        layers.push((*d, size));
    }
    Ok(image::store_image(store, &config, &layers)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(config: Value) -> Value {
        json!({ "config": config })
    }

    fn argv(
        image_config: &Value,
        entrypoint: Option<&str>,
        command: &[&str],
    ) -> Result<Vec<String>> {
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let options = RunOptions {
            entrypoint,
            command: &command,
            ..Default::default()
        };
        resolve(image_config, &options).map(|r| r.argv)
    }

    /// dockerd 20.10 with an image of `ENTRYPOINT ["echo","ep"]` and `CMD ["cmd1"]`.
    #[test]
    fn entrypoint_and_cmd_follow_docker() {
        let both = image(json!({"Entrypoint": ["echo", "ep"], "Cmd": ["cmd1"]}));
        assert_eq!(argv(&both, None, &[]).unwrap(), ["echo", "ep", "cmd1"]);
        assert_eq!(
            argv(&both, None, &["a", "b"]).unwrap(),
            ["echo", "ep", "a", "b"]
        );
        assert_eq!(argv(&both, Some("echo"), &[]).unwrap(), ["echo"]);
        assert_eq!(argv(&both, Some("echo"), &["x"]).unwrap(), ["echo", "x"]);
        assert_eq!(argv(&both, Some("echo z"), &[]).unwrap(), ["echo z"]);
        assert_eq!(
            argv(&both, Some(""), &["echo", "y"]).unwrap(),
            ["echo", "y"]
        );
        let err = argv(&both, Some(""), &[]).unwrap_err().to_string();
        assert!(err.contains("no command specified"), "{err}");
        let none = image(json!({}));
        assert!(argv(&none, None, &[]).is_err());
        assert_eq!(argv(&none, None, &["sh"]).unwrap(), ["sh"]);
    }

    #[test]
    fn env_precedence_is_defaults_then_image_then_user() {
        let img = image(json!({"Env": ["PATH=/bin", "A=image", "B=image", "C=image"]}));
        let options = RunOptions {
            command: &["sh".into()],
            env: vec!["A=file".into(), "A=flag".into(), "B".into(), "D=new".into()],
            hostname: "h",
            tty: true,
            ..Default::default()
        };
        let run = resolve(&img, &options).unwrap();
        let env: Vec<String> = run.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            env,
            [
                "PATH=/bin",
                "HOSTNAME=h",
                "TERM=xterm",
                "A=flag",
                "D=new",
                "C=image"
            ]
        );
    }

    #[test]
    fn workdir_must_be_absolute() {
        let img = image(json!({"WorkingDir": "/app"}));
        let mut options = RunOptions {
            command: &["sh".into()],
            ..Default::default()
        };
        assert_eq!(resolve(&img, &options).unwrap().cwd, "/app");
        options.workdir = Some("rel");
        let err = resolve(&img, &options).unwrap_err().to_string();
        assert!(err.contains("needs to be an absolute path"), "{err}");
    }

    #[test]
    fn env_files_parse_as_docker() {
        let host = |k: &str| (k == "HOSTVAR").then(|| "from-host".to_string());
        let text = b"\xef\xbb\xbf# comment\n\n  A=1\nB=\"quoted\" \nHOSTVAR\nUNSET\nC=x=y\n";
        assert_eq!(
            parse_env_file("f", text, host).unwrap(),
            ["A=1", "B=\"quoted\" ", "HOSTVAR=from-host", "C=x=y"]
        );
        let err = parse_env_file("f", b"A B=1\n", host)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("whitespaces"),
            "{err}"
        );
        let err = parse_env_file("f", b"ok=1\n=v\n", host)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("no variable name"),
            "{err}"
        );
        let err = parse_env_file("f", b"A=\xff\n", host)
            .unwrap_err()
            .to_string();
        assert!(err.contains("utf8"), "{err}");
    }
}
