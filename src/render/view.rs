//! Docker-shaped views of stored images: what `inspect`, `images` and `history` print, with
//! docker's field names, order and number formats, so scripts written against docker's output
//! (and its `--format` templates) work unchanged.

use serde::Serialize;
use serde_json::{json, Value};
use strata_cache::Store;

use strata_oci::image::config::history_of;
use strata_oci::image::reference::split_key;
use strata_oci::image::{self, names_of, size, untagged, StoredImage};
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
pub fn pretty_json<T: Serialize>(value: &T) -> String {
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

/// The header row of `images` tables (docker's column titles by field).
pub fn image_header() -> Value {
    json!({
        "Containers": "CONTAINERS",
        "CreatedAt": "CREATED AT",
        "CreatedSince": "CREATED",
        "Digest": "DIGEST",
        "ID": "IMAGE ID",
        "Repository": "REPOSITORY",
        "SharedSize": "SHARED SIZE",
        "Size": "SIZE",
        "Tag": "TAG",
        "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "VIRTUAL SIZE",
    })
}

/// One row per name (and one `<none>` row per untagged image), newest first, with the fields
/// of docker's `images --format` (`{{json .}}` gives them all).
pub fn image_rows(store: &Store, now: i64, no_trunc: bool) -> Result<Vec<Value>> {
    let mut entries: Vec<(i64, String, Value)> = Vec::new();
    let mut add = |image: &StoredImage, repo: &str, tag: &str| -> Result<()> {
        let created = image.config["created"].as_str().unwrap_or_default();
        let secs = parse_rfc3339(created);
        let size = human_size(size(store, image)?);
        let id = if no_trunc {
            image.id.to_string()
        } else {
            image.id.hex()[..12].to_string()
        };
        let row = json!({
            "Containers": "N/A",
            "CreatedAt": secs.map(go_time).unwrap_or_default(),
            "CreatedSince": secs.map(|s| format!("{} ago", human_duration(now - s))).unwrap_or_else(|| "N/A".into()),
            "Digest": if repo == "<none>" { "<none>".to_string() } else { image.manifest.to_string() },
            "ID": id,
            "Repository": repo,
            "SharedSize": "N/A",
            "Size": size,
            "Tag": tag,
            "UniqueSize": "N/A",
            "VirtualSize": size,
        });
        entries.push((secs.unwrap_or(0), format!("{repo}:{tag}"), row));
        Ok(())
    };
    for (key, manifest) in image::names(store)? {
        let image = image::load(store, &manifest)?;
        let (repo, tag) = split_key(&key);
        add(&image, repo, tag)?;
    }
    for manifest in untagged(store)? {
        let image = image::load(store, &manifest)?;
        add(&image, "<none>", "<none>")?;
    }
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(entries.into_iter().map(|(_, _, row)| row).collect())
}

/// The header row of `history` tables.
pub fn history_header() -> Value {
    json!({
        "ID": "IMAGE",
        "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY",
        "Size": "SIZE",
        "Comment": "COMMENT",
    })
}

/// How to show history rows.
#[derive(Debug, Clone, Copy)]
pub struct HistoryOptions {
    /// Sizes and dates for people (`-H`, docker's default) rather than numbers and RFC 3339.
    pub human: bool,
    /// Shorten IDs and `CREATED BY` (docker's default; `--no-trunc` turns it off).
    pub truncate: bool,
    /// The current time, for "2 hours ago".
    pub now: i64,
}

/// The rows of `history`, newest first: the top one carries the image ID, the others
/// `<missing>` (as for any image docker did not build itself); sizes are the layers'.
pub fn history_rows(
    store: &Store,
    image: &StoredImage,
    options: &HistoryOptions,
) -> Result<Vec<Value>> {
    let mut layers = image.diff_ids.iter();
    let mut rows = Vec::new();
    for entry in history_of(&image.config) {
        let size = if entry.empty_layer {
            0
        } else {
            match layers.next() {
                Some(d) => store.index().layer(d)?.map_or(0, |r| r.size),
                None => 0,
            }
        };
        let secs = parse_rfc3339(&entry.created);
        let created_by = entry.created_by.replace('\t', " ");
        rows.push(json!({
            "CreatedAt": entry.created,
            "CreatedSince": match (options.human, secs) {
                (true, Some(s)) => format!("{} ago", human_duration(options.now - s)),
                _ => entry.created.clone(),
            },
            "CreatedBy": if options.truncate { ellipsis(&created_by, 45) } else { created_by },
            "Size": if options.human { human_size(size) } else { size.to_string() },
            "Comment": entry.comment.unwrap_or_default(),
        }));
    }
    rows.reverse();
    for (index, row) in rows.iter_mut().enumerate() {
        row["ID"] = json!(match (index, options.truncate) {
            (0, true) => image.id.hex()[..12].to_string(),
            (0, false) => image.id.to_string(),
            _ => "<missing>".to_string(),
        });
    }
    Ok(rows)
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        text.to_string()
    } else if max <= 3 {
        chars[..max].iter().collect()
    } else {
        chars[..max - 1].iter().collect::<String>() + "…"
    }
}

/// Sizes as `docker images` prints them (go-units `HumanSizeWithPrecision(size, 3)`: base
/// 1000, three significant digits, `%g` style: `4.26MB`, `123kB`, `1e+03kB` at the edge, as Go
/// does).
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes, 3)
}

/// go-units `HumanSizeWithPrecision`: base 1000 units with `precision` significant digits in
/// Go's `%g` style. docker's listings use 3 (`images`), its totals and `system df` use 4
/// (`HumanSize`).
pub fn human_size_with_precision(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_g(value, precision.max(1)), UNITS[unit])
}

/// Go's `%.{precision}g`.
fn go_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let scientific = format!("{value:.*e}", precision - 1);
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("exponent");
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..precision as i32).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim(&format!("{value:.decimals$}"))
}

/// go-units `HumanDuration` (what docker shows before " ago").
pub fn human_duration(secs: i64) -> String {
    let hours_rounded = (secs as f64 / 3600.0 + 0.5) as i64;
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s / 60 == 1 => "About a minute".into(),
        s if s / 60 < 60 => format!("{} minutes", s / 60),
        _ if hours_rounded == 1 => "About an hour".into(),
        _ if hours_rounded < 48 => format!("{hours_rounded} hours"),
        _ if hours_rounded < 24 * 7 * 2 => format!("{} days", hours_rounded / 24),
        _ if hours_rounded < 24 * 30 * 2 => format!("{} weeks", hours_rounded / 24 / 7),
        _ if hours_rounded < 24 * 365 * 2 => format!("{} months", hours_rounded / 24 / 30),
        s => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// Go's `time.Time.String()` in UTC: `2026-11-24 10:45:55 +0000 UTC`.
fn go_time(secs: i64) -> String {
    strata_oci::image::config::rfc3339(secs)
        .replace('T', " ")
        .replace('Z', " +0000 UTC")
}

/// Parses RFC 3339 (`2026-11-24T10:45:55.123Z`, `…+01:00`) into unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, ""),
    };
    let mut c = clock.splitn(3, ':');
    let hour: i64 = c.next()?.parse().ok()?;
    let minute: i64 = c.next()?.parse().ok()?;
    let second: i64 = c.next()?.split('.').next()?.parse().ok()?;
    let offset_secs = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (h, m) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86400 + hour * 3600 + minute * 60 + second - offset_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_print_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(123_456), "123kB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(human_size(999_600), "1e+03kB");
        // docker's totals (`HumanSize`, four digits).
        assert_eq!(human_size_with_precision(1_234_567, 4), "1.235MB");
        assert_eq!(human_size_with_precision(123_456, 4), "123.5kB");
        assert_eq!(human_size_with_precision(2_000_000_000, 4), "2GB");
        assert_eq!(human_size_with_precision(999, 4), "999B");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(30), "30 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(100 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }

    #[test]
    fn rfc3339_parses_back() {
        for secs in [0, 1_795_000_000, 951_782_400 /* 2000-02-29 */] {
            assert_eq!(
                parse_rfc3339(&strata_oci::image::config::rfc3339(secs)),
                Some(secs)
            );
        }
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00.5+01:00"), Some(0));
        assert_eq!(parse_rfc3339("nonsense"), None);
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
