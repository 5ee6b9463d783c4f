//! `strata inspect`: docker's image inspect object, with docker's field names and order (API
//! 1.41), so scripts written against `docker image inspect` (and its `--format` templates)
//! work unchanged.

use serde::Serialize;
use serde_json::{json, Value};
use strata_cache::Store;
use strata_oci::image::reference::split_key;
use strata_oci::image::{names_of, size, StoredImage};
use strata_oci::Result;

/// `docker image inspect`'s object for one image (API 1.41 field order).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectView {
    /// The image ID (config digest).
    pub id: String,
    /// Its names.
    pub repo_tags: Vec<String>,
    /// `name@<manifest digest>` for each of its repositories.
    pub repo_digests: Vec<String>,
    /// Always empty: strata images have no parent image ID.
    pub parent: String,
    /// The config's `comment`.
    pub comment: String,
    /// The config's `created`.
    pub created: String,
    /// Always empty (no build container).
    pub container: String,
    /// The config's `docker_version`, when a docker wrote it.
    pub docker_version: String,
    /// The config's `author`.
    pub author: String,
    /// The container config, with docker's defaults filled in.
    pub config: Value,
    /// The config's `architecture`.
    pub architecture: String,
    /// The config's `variant`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The config's `os`.
    pub os: String,
    /// Bytes of the uncompressed layers.
    pub size: u64,
    /// The same (docker's API before 1.44 repeats it).
    pub virtual_size: u64,
    /// `{"Type": "layers", "Layers": [DiffIDs]}`.
    #[serde(rename = "RootFS")]
    pub root_fs: Value,
    /// `{"LastTagTime": …}` (not tracked: Go's zero time).
    pub metadata: Value,
}

impl InspectView {
    /// The view as JSON, for templates.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("views serialise")
    }
}

/// Pretty JSON with docker's four-space indentation, fields in declaration order.
fn pretty_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer).expect("views serialise");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Docker's container config shape: every field it always writes, in its order.
fn container_config(config: &Value) -> Value {
    let c = &config["config"];
    let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
    let mut out = serde_json::Map::new();
    // serde_json's map is sorted; docker's order is restored by `ConfigView` below.
    for (key, value) in [
        ("Hostname", json!(text("Hostname"))),
        ("Domainname", json!(text("Domainname"))),
        ("User", json!(text("User"))),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Env", c["Env"].clone()),
        ("Cmd", c["Cmd"].clone()),
        ("Image", json!(text("Image"))),
        ("Volumes", c["Volumes"].clone()),
        ("WorkingDir", json!(text("WorkingDir"))),
        ("Entrypoint", c["Entrypoint"].clone()),
        ("OnBuild", c["OnBuild"].clone()),
        ("Labels", c["Labels"].clone()),
    ] {
        out.insert(key.into(), value);
    }
    for optional in [
        "ExposedPorts",
        "Healthcheck",
        "ArgsEscaped",
        "StopSignal",
        "Shell",
    ] {
        if !c[optional].is_null() {
            out.insert(optional.into(), c[optional].clone());
        }
    }
    Value::Object(out)
}

/// Docker's field order for the container config.
const CONFIG_ORDER: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "Shell",
];

/// Serialises a config map in docker's order.
struct ConfigView<'a>(&'a Value);

impl Serialize for ConfigView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(map) = self.0.as_object() else {
            return self.0.serialize(s);
        };
        let mut out = s.serialize_map(Some(map.len()))?;
        for key in CONFIG_ORDER {
            if let Some(value) = map.get(*key) {
                out.serialize_entry(key, value)?;
            }
        }
        out.end()
    }
}

/// The inspect views of images, printed as docker prints them (a JSON array).
pub fn inspect_json(views: &[InspectView]) -> String {
    #[derive(Serialize)]
    struct Ordered<'a> {
        #[serde(flatten)]
        head: Head<'a>,
        #[serde(rename = "Config")]
        config: ConfigView<'a>,
        #[serde(flatten)]
        tail: Tail<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Head<'a> {
        id: &'a str,
        repo_tags: &'a [String],
        repo_digests: &'a [String],
        parent: &'a str,
        comment: &'a str,
        created: &'a str,
        container: &'a str,
        docker_version: &'a str,
        author: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Tail<'a> {
        architecture: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        variant: Option<&'a str>,
        os: &'a str,
        size: u64,
        virtual_size: u64,
        #[serde(rename = "RootFS")]
        root_fs: &'a Value,
        metadata: &'a Value,
    }
    let ordered: Vec<Ordered<'_>> = views
        .iter()
        .map(|v| Ordered {
            head: Head {
                id: &v.id,
                repo_tags: &v.repo_tags,
                repo_digests: &v.repo_digests,
                parent: &v.parent,
                comment: &v.comment,
                created: &v.created,
                container: &v.container,
                docker_version: &v.docker_version,
                author: &v.author,
            },
            config: ConfigView(&v.config),
            tail: Tail {
                architecture: &v.architecture,
                variant: v.variant.as_deref(),
                os: &v.os,
                size: v.size,
                virtual_size: v.virtual_size,
                root_fs: &v.root_fs,
                metadata: &v.metadata,
            },
        })
        .collect();
    pretty_json(&ordered)
}

/// Builds the inspect view of a stored image.
pub fn inspect(store: &Store, image: &StoredImage) -> Result<InspectView> {
    let config = &image.config;
    let text = |key: &str| config[key].as_str().unwrap_or_default().to_string();
    let repo_tags = names_of(store, &image.manifest)?;
    let mut repo_digests: Vec<String> = repo_tags
        .iter()
        .map(|t| format!("{}@{}", split_key(t).0, image.manifest))
        .collect();
    repo_digests.dedup();
    let size = size(store, image)?;
    Ok(InspectView {
        id: image.id.to_string(),
        repo_tags,
        repo_digests,
        parent: String::new(),
        comment: text("comment"),
        created: text("created"),
        container: String::new(),
        docker_version: text("docker_version"),
        author: text("author"),
        config: container_config(config),
        architecture: text("architecture"),
        variant: config["variant"].as_str().map(str::to_string),
        os: text("os"),
        size,
        virtual_size: size,
        root_fs: json!({
            "Type": config["rootfs"]["type"].as_str().unwrap_or("layers"),
            "Layers": image.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        }),
        metadata: json!({"LastTagTime": "0001-01-01T00:00:00Z"}),
    })
}
