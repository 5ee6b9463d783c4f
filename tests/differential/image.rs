//! Reading a saved image tarball into what the comparison looks at: the config fields a user
//! sees and the flattened filesystem (every layer applied in order with OCI whiteouts).
//!
//! Two tarball shapes come in: docker 20.10's legacy `docker save` (manifest.json, `<id>.json`
//! and `<id>/layer.tar`) and strata's (an OCI layout whose manifest.json points into
//! `blobs/`). Both are read through manifest.json, so one reader serves both.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The config fields compared (the `config` object of the image config), in report order.
pub const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
];

/// An image as the comparison sees it.
#[derive(Debug, Default)]
pub struct Image {
    /// `config.<Field>` (and top-level `os`, `architecture`) → normalized value; absent when
    /// unset, null or empty.
    pub config: BTreeMap<String, Value>,
    /// Absolute path (`/`, `/bin`, `/bin/sh`…) → entry, after every layer is applied.
    pub files: BTreeMap<String, Entry>,
}

impl Image {
    /// One line per config field, then one per path: for `STRATA_DIFF_DUMP`, to diff by hand.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.config {
            out.push_str(&format!("{key} = {value}\n"));
        }
        for (path, entry) in &self.files {
            out.push_str(&format!("{path} {entry}\n"));
        }
        out
    }
}

/// What a filesystem entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
}

/// One path of the flattened filesystem. Modification times are left out on purpose: they
/// differ between any two builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Size in bytes (regular files; 0 otherwise).
    pub size: u64,
    /// sha256 of the content (regular files; empty otherwise).
    pub sha256: String,
    /// Symlink target (symlinks), or `major:minor` (devices); empty otherwise.
    pub link: String,
    /// The text of a small text file, shown when contents differ (equal exactly when the
    /// hashes are).
    pub preview: Option<String>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:04o} {}:{}",
            self.kind, self.mode, self.uid, self.gid
        )?;
        match self.kind {
            Kind::File => write!(f, " {} bytes sha256:{}", self.size, short(&self.sha256)),
            Kind::Symlink => write!(f, " -> {}", self.link),
            Kind::Char | Kind::Block => write!(f, " dev {}", self.link),
            _ => Ok(()),
        }
    }
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

/// Reads a `docker save` / `strata save` tarball holding one image.
pub fn read_saved(tarball: &Path) -> Result<Image, String> {
    let file = std::fs::File::open(tarball)
        .map_err(|e| format!("opening `{}`: {e}", tarball.display()))?;
    let members = read_members(file).map_err(|e| format!("`{}`: {e}", tarball.display()))?;
    from_members(&members).map_err(|e| format!("`{}`: {e}", tarball.display()))
}

/// Regular files of an outer tarball, by normalized path.
fn read_members(reader: impl Read) -> Result<HashMap<String, Vec<u8>>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut members = HashMap::new();
    // docker's legacy save writes a layer that appears twice once, and the second
    // `<id>/layer.tar` as a symlink to the first.
    let mut links = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = normalize(&entry.path().map_err(|e| e.to_string())?.to_string_lossy());
        if entry.header().entry_type().is_symlink() {
            let target = entry.link_name().map_err(|e| e.to_string())?;
            let target = target.map(|t| t.to_string_lossy().into_owned());
            links.push((path, target.unwrap_or_default()));
            continue;
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("{path}: {e}"))?;
        members.insert(path, data);
    }
    for (path, target) in links {
        let resolved = resolve_relative(&path, &target);
        if let Some(data) = members.get(&resolved).cloned() {
            members.insert(path, data);
        }
    }
    Ok(members)
}

/// `a/layer.tar` + `../b/layer.tar` → `b/layer.tar` (a symlink target inside the tarball).
fn resolve_relative(path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        path.split('/').collect()
    };
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Builds the image from the outer tarball's members through manifest.json.
pub fn from_members(members: &HashMap<String, Vec<u8>>) -> Result<Image, String> {
    let manifest = members
        .get("manifest.json")
        .ok_or("no manifest.json (not a docker-archive)")?;
    let manifest: Value =
        serde_json::from_slice(manifest).map_err(|e| format!("manifest.json: {e}"))?;
    let images = manifest.as_array().ok_or("manifest.json is not an array")?;
    if images.len() != 1 {
        return Err(format!(
            "manifest.json lists {} images, not 1",
            images.len()
        ));
    }
    let member = |key: &Value| -> Result<&Vec<u8>, String> {
        let path = key
            .as_str()
            .ok_or("manifest.json: a path is not a string")?;
        members
            .get(&normalize(path))
            .ok_or_else(|| format!("manifest.json names `{path}`, which the tarball lacks"))
    };
    let config: Value = serde_json::from_slice(member(&images[0]["Config"])?)
        .map_err(|e| format!("image config: {e}"))?;
    let mut files = BTreeMap::new();
    let layers = images[0]["Layers"]
        .as_array()
        .ok_or("manifest.json: Layers is not an array")?;
    for (index, layer) in layers.iter().enumerate() {
        let data = decompress(member(layer)?)?;
        apply_layer(&mut files, &data).map_err(|e| format!("layer {index} ({layer}): {e}"))?;
    }
    Ok(Image {
        config: config_fields(&config),
        files,
    })
}

/// Layers may come gzip-compressed (an OCI blob); plain tars pass through.
fn decompress(data: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .map_err(|e| format!("gunzip: {e}"))?;
        return Ok(out.into());
    }
    if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err("zstd layers are not supported by this reader (save uncompressed)".into());
    }
    Ok(data.into())
}

/// The compared config fields, normalized so that "unset" has one spelling.
pub fn config_fields(config: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for field in CONFIG_FIELDS {
        let raw = &config["config"][field];
        let value = if *field == "Healthcheck" {
            normalize_healthcheck(raw)
        } else {
            normalize_value(raw)
        };
        if let Some(value) = value {
            out.insert(format!("config.{field}"), value);
        }
    }
    for field in ["os", "architecture"] {
        if let Some(value) = normalize_value(&config[field]) {
            out.insert(field.to_string(), value);
        }
    }
    out
}

/// null, "", [] and {} all mean "not set" to docker (it writes them with `omitempty` or as
/// null depending on the version): they compare as absent. Inside Healthcheck, a zero
/// duration or retry count means "the default" and is dropped too. Maps (Labels,
/// ExposedPorts, Volumes) keep every key and value: a label set to "" is still set.
fn normalize_value(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Object(map) if map.is_empty() => None,
        other => Some(other.clone()),
    }
}

fn normalize_healthcheck(value: &Value) -> Option<Value> {
    let Value::Object(map) = value else {
        return normalize_value(value);
    };
    let kept: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(_, v)| !matches!(v, Value::Number(n) if n.as_f64() == Some(0.0)))
        .filter_map(|(k, v)| Some((k.clone(), normalize_value(v)?)))
        .collect();
    normalize_value(&Value::Object(kept))
}

/// `./a/b/` → `a/b`.
fn normalize(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_matches('/');
    if trimmed == "." {
        String::new()
    } else {
        trimmed.to_string()
    }
}

/// `a/b` → `/a/b`, `` → `/`.
fn absolute(rel: &str) -> String {
    format!("/{rel}")
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Removes `path` and everything under it.
fn remove_tree(files: &mut BTreeMap<String, Entry>, path: &str) {
    files.remove(path);
    remove_children(files, path);
}

/// Removes everything under `dir` (not `dir` itself).
fn remove_children(files: &mut BTreeMap<String, Entry>, dir: &str) {
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    let doomed: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .map(|(key, _)| key.clone())
        .collect();
    for key in doomed {
        files.remove(&key);
    }
}

/// One entry of a layer, read before anything is applied.
struct LayerEntry {
    path: String,
    entry: Option<Entry>,
    /// Hard link: the path (absolute) it links to.
    hardlink: Option<String>,
}

/// Applies one uncompressed layer tar: whiteouts first (they hide lower layers only, as the
/// OCI image spec says), then the entries in archive order.
pub fn apply_layer(files: &mut BTreeMap<String, Entry>, data: &[u8]) -> Result<(), String> {
    let mut archive = tar::Archive::new(data);
    let mut entries = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = absolute(&normalize(
            &entry.path().map_err(|e| e.to_string())?.to_string_lossy(),
        ));
        let header = entry.header().clone();
        let mut uid = header.uid().map_err(|e| format!("{path}: uid: {e}"))?;
        let mut gid = header.gid().map_err(|e| format!("{path}: gid: {e}"))?;
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                let value = ext.value().unwrap_or("");
                match ext.key().unwrap_or("") {
                    "uid" => uid = value.parse().unwrap_or(uid),
                    "gid" => gid = value.parse().unwrap_or(gid),
                    _ => {}
                }
            }
        }
        let mode = header.mode().map_err(|e| format!("{path}: mode: {e}"))? & 0o7777;
        let link = || -> Result<String, String> {
            Ok(entry
                .link_name()
                .map_err(|e| format!("{path}: link name: {e}"))?
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default())
        };
        let base = |kind, link: String| Entry {
            kind,
            mode,
            uid,
            gid,
            size: 0,
            sha256: String::new(),
            link,
            preview: None,
        };
        let ty = header.entry_type();
        let (entry, hardlink) = match ty {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut content = Vec::new();
                entry
                    .read_to_end(&mut content)
                    .map_err(|e| format!("{path}: {e}"))?;
                let mut file = base(Kind::File, String::new());
                file.size = content.len() as u64;
                file.sha256 = hex(&Sha256::digest(&content));
                if content.len() <= 512 {
                    file.preview = String::from_utf8(content).ok();
                }
                (Some(file), None)
            }
            tar::EntryType::Directory => (Some(base(Kind::Dir, String::new())), None),
            tar::EntryType::Symlink => (Some(base(Kind::Symlink, link()?)), None),
            tar::EntryType::Link => (None, Some(absolute(&normalize(&link()?)))),
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let kind = if ty == tar::EntryType::Char {
                    Kind::Char
                } else {
                    Kind::Block
                };
                (Some(base(kind, format!("{major}:{minor}"))), None)
            }
            tar::EntryType::Fifo => (Some(base(Kind::Fifo, String::new())), None),
            // PAX and GNU long-name records are folded into the next entry by the tar crate.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => return Err(format!("{path}: unsupported tar entry type {other:?}")),
        };
        entries.push(LayerEntry {
            path,
            entry,
            hardlink,
        });
    }
    for item in &entries {
        let name = item.path.rsplit('/').next().unwrap_or("");
        let dir = parent_of(&item.path);
        if name == ".wh..wh..opq" {
            remove_children(files, dir);
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            let target = if dir == "/" {
                format!("/{hidden}")
            } else {
                format!("{dir}/{hidden}")
            };
            remove_tree(files, &target);
        }
    }
    for item in entries {
        let name = item.path.rsplit('/').next().unwrap_or("");
        // The root's own metadata is not part of what a build produces (some layer formats
        // carry a `./` entry, others don't).
        if name.starts_with(".wh.") || item.path == "/" {
            continue;
        }
        let entry = match (item.entry, item.hardlink) {
            (Some(entry), _) => entry,
            // A hard link shares its target's inode: same type, mode, owner and content.
            (None, Some(target)) => files.get(&target).cloned().ok_or_else(|| {
                format!("{}: hard link to `{target}`, which is not there", item.path)
            })?,
            (None, None) => unreachable!("an entry is either a file or a hard link"),
        };
        if entry.kind != Kind::Dir {
            remove_children(files, &item.path);
        }
        files.insert(item.path, entry);
    }
    Ok(())
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
