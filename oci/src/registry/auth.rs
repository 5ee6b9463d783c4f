//! Credentials as docker keeps them: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`) with `auths` entries (base64 `user:password` in `auth`, or
//! `username`/`password`), and `credsStore`/`credHelpers` naming `docker-credential-<name>`
//! helpers (`get`/`store`/`erase`, server URL or JSON on stdin, JSON on stdout).
//! `strata login`/`logout` write the same file docker does.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Map, Value};

use super::remote::DOCKER_HUB;
use super::ErrorKind;
use crate::error::{Error, Result};

/// The key docker files Docker Hub's credentials under.
pub(crate) const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub enum AuthSource {
    /// Never send credentials.
    Anonymous,
    /// The same user and password for every registry.
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// docker's config file (and the helpers it names), in this directory; `None` means
    /// `$DOCKER_CONFIG`, else `~/.docker`.
    DockerConfig(Option<PathBuf>),
    /// [`AuthSource::DockerConfig`] at its default place.
    #[default]
    Default,
}

/// A user name and a password (or an identity token, when the user name is `<token>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password, token or identity token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn auth_error(reason: String) -> Error {
    Error::Registry {
        kind: ErrorKind::Auth,
        reason,
    }
}

/// docker's config directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn docker_config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker")
}

/// The key a registry's credentials are filed under in `config.json`: docker.io's is
/// `https://index.docker.io/v1/`, others are the host with its port.
pub fn config_key(registry: &str) -> String {
    let host = normalize_host(registry);
    if host == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        host
    }
}

/// `https://index.docker.io/v1/`, `index.docker.io`, `registry-1.docker.io` → `docker.io`;
/// `http://host:5000/v2/` → `host:5000`.
pub fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}

fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.json")
}

fn read_config(dir: &Path) -> Result<Value> {
    let path = config_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| auth_error(format!("docker config `{}`: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(source) => Err(Error::Io { path, source }),
    }
}

fn write_config(dir: &Path, config: &Value) -> Result<()> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = config_path(dir);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(dir, e))?;
    let mut text = serde_json::to_string_pretty(config).expect("config serialises");
    text.push('\n');
    tmp.write_all(text.as_bytes()).map_err(|e| io(&path, e))?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io(&path, e))?;
    tmp.persist(&path).map_err(|e| io(&path, e.error))?;
    Ok(())
}

/// The helper that holds a registry's credentials: its `credHelpers` entry, else
/// `credsStore`.
fn helper_for(config: &Value, registry: &str) -> Option<String> {
    let host = normalize_host(registry);
    if let Some(helpers) = config["credHelpers"].as_object() {
        for (key, name) in helpers {
            if normalize_host(key) == host {
                return name.as_str().filter(|n| !n.is_empty()).map(str::to_string);
            }
        }
    }
    config["credsStore"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, action: &str, input: &str) -> Result<(bool, String)> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| auth_error(format!("credential helper `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| auth_error(format!("credential helper `{program}`: {e}")))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        if text.trim().is_empty() {
            text = String::from_utf8_lossy(&output.stderr).into_owned();
        }
        return Ok((false, text.trim().to_string()));
    }
    Ok((true, text))
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>> {
    let (ok, text) = run_helper(helper, "get", server)?;
    if !ok {
        // docker-credential-helpers say "credentials not found in native keychain".
        if text.to_ascii_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(auth_error(format!(
            "credential helper `docker-credential-{helper}` get {server}: {text}"
        )));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        auth_error(format!(
            "credential helper `docker-credential-{helper}` printed invalid JSON: {e}"
        ))
    })?;
    let username = value["Username"].as_str().unwrap_or_default().to_string();
    let password = value["Secret"].as_str().unwrap_or_default().to_string();
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials { username, password }))
}

fn decode_entry(key: &str, entry: &Value) -> Result<Option<Credentials>> {
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| auth_error(format!("docker config: `auth` of `{key}`: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| auth_error(format!("docker config: `auth` of `{key}` is not UTF-8")))?;
        let (username, password) = text.split_once(':').ok_or_else(|| {
            auth_error(format!(
                "docker config: `auth` of `{key}` is not base64 of `user:password`"
            ))
        })?;
        return Ok(Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    let username = entry["username"].as_str().unwrap_or_default();
    let password = entry["password"].as_str().unwrap_or_default();
    if let Some(token) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username: "<token>".into(),
            password: token.to_string(),
        }));
    }
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    }))
}

/// The credentials docker would use for `registry` (`127.0.0.1:5000`, `docker.io`), read
/// from the config in `dir` (or through the helper it names); `None` when there are none.
pub(crate) fn lookup(dir: &Path, registry: &str) -> Result<Option<Credentials>> {
    let config = read_config(dir)?;
    if let Some(helper) = helper_for(&config, registry) {
        if let Some(found) = helper_get(&helper, &config_key(registry))? {
            return Ok(Some(found));
        }
        // docker also tries the bare host for a helper entry.
        let host = normalize_host(registry);
        if host != config_key(registry) {
            if let Some(found) = helper_get(&helper, &host)? {
                return Ok(Some(found));
            }
        }
    }
    let host = normalize_host(registry);
    if let Some(auths) = config["auths"].as_object() {
        // The exact key first, then any spelling of the same host.
        if let Some(entry) = auths.get(&config_key(registry)) {
            if let Some(found) = decode_entry(&config_key(registry), entry)? {
                return Ok(Some(found));
            }
        }
        for (key, entry) in auths {
            if normalize_host(key) == host {
                if let Some(found) = decode_entry(key, entry)? {
                    return Ok(Some(found));
                }
            }
        }
    }
    Ok(None)
}

/// Files credentials as `docker login` does: through the config's helper when it names one,
/// else as base64 `auth` under `auths`. Returns where they went (the file, or the helper).
pub fn store(dir: &Path, registry: &str, credentials: &Credentials) -> Result<String> {
    let mut config = read_config(dir)?;
    if !config.is_object() {
        config = json!({});
    }
    let key = config_key(registry);
    if let Some(helper) = helper_for(&config, registry) {
        let input = json!({
            "ServerURL": key,
            "Username": credentials.username,
            "Secret": credentials.password,
        })
        .to_string();
        let (ok, text) = run_helper(&helper, "store", &input)?;
        if !ok {
            return Err(auth_error(format!(
                "credential helper `docker-credential-{helper}` store: {text}"
            )));
        }
        // docker keeps an empty entry so `docker info`/`logout` know the registry.
        let auths = config
            .as_object_mut()
            .expect("object")
            .entry("auths")
            .or_insert_with(|| json!({}));
        if let Some(auths) = auths.as_object_mut() {
            auths.insert(key, json!({}));
        }
        write_config(dir, &config)?;
        return Ok(format!("docker-credential-{helper}"));
    }
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password));
    let object = config.as_object_mut().expect("object");
    let auths = object.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    let auths = auths.as_object_mut().expect("object");
    // Other spellings of the same host go, so the new entry is the one used.
    let host = normalize_host(registry);
    auths.retain(|k, _| k == &key || normalize_host(k) != host);
    let mut entry = Map::new();
    entry.insert("auth".into(), Value::String(encoded));
    auths.insert(key, Value::Object(entry));
    write_config(dir, &config)?;
    Ok(config_path(dir).display().to_string())
}

/// Removes a registry's credentials as `docker logout` does (from the helper and the file);
/// `false` when there were none.
pub fn erase(dir: &Path, registry: &str) -> Result<bool> {
    let mut config = read_config(dir)?;
    let key = config_key(registry);
    let host = normalize_host(registry);
    let mut removed = false;
    if let Some(helper) = helper_for(&config, registry) {
        let (ok, _) = run_helper(&helper, "erase", &key)?;
        removed |= ok;
    }
    if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
        let before = auths.len();
        auths.retain(|k, _| normalize_host(k) != host);
        if auths.len() != before {
            removed = true;
            write_config(dir, &config)?;
        }
    }
    Ok(removed)
}

/// Resolves credentials per registry for an [`AuthSource`], each registry once.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    source: AuthSource,
    found: std::sync::Mutex<HashMap<String, Option<Credentials>>>,
}

impl Resolver {
    pub(crate) fn new(source: AuthSource) -> Resolver {
        Resolver {
            source,
            found: Default::default(),
        }
    }

    /// The credentials for a registry, `None` for anonymous access.
    pub(crate) fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        if let Some(found) = self.found.lock().expect("auth cache").get(registry) {
            return Ok(found.clone());
        }
        let found = match &self.source {
            AuthSource::Anonymous => None,
            AuthSource::Basic { username, password } => Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            }),
            AuthSource::DockerConfig(Some(dir)) => lookup(dir, registry)?,
            AuthSource::DockerConfig(None) | AuthSource::Default => {
                lookup(&docker_config_dir(), registry)?
            }
        };
        self.found
            .lock()
            .expect("auth cache")
            .insert(registry.to_string(), found.clone());
        Ok(found)
    }

    /// Whether credentials were configured for a registry (for error messages).
    pub(crate) fn has_credentials(&self, registry: &str) -> bool {
        matches!(self.credentials(registry), Ok(Some(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hosts_are_docker_s() {
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(
            normalize_host("http://Reg.local:5000/v2/"),
            "reg.local:5000"
        );
    }

    #[test]
    fn store_lookup_erase_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lookup(dir.path(), "127.0.0.1:5000").unwrap(), None);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"http://127.0.0.1:5000":{"username":"a","password":"b"}},"other":1}"#,
        )
        .unwrap();
        let found = lookup(dir.path(), "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("a", "b")
        );
        let creds = Credentials {
            username: "me".into(),
            password: "pw:x".into(),
        };
        store(dir.path(), "127.0.0.1:5000", &creds).unwrap();
        store(dir.path(), "docker.io", &creds).unwrap();
        let config = read_config(dir.path()).unwrap();
        assert_eq!(config["other"], 1);
        assert_eq!(config["auths"]["127.0.0.1:5000"]["auth"], "bWU6cHc6eA==");
        assert!(config["auths"].get("http://127.0.0.1:5000").is_none());
        assert!(config["auths"].get(DOCKER_HUB_KEY).is_some());
        assert_eq!(
            lookup(dir.path(), "127.0.0.1:5000").unwrap(),
            Some(creds.clone())
        );
        assert_eq!(lookup(dir.path(), "index.docker.io").unwrap(), Some(creds));
        assert!(erase(dir.path(), "127.0.0.1:5000").unwrap());
        assert!(!erase(dir.path(), "127.0.0.1:5000").unwrap());
        assert_eq!(lookup(dir.path(), "127.0.0.1:5000").unwrap(), None);
    }
}
