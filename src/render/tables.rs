//! The rows of `images` and `history` tables, with the fields docker's `--format` knows
//! (`{{json .}}` gives them all) and docker's number and date formats.

use serde_json::{json, Value};
use strata_cache::Store;
use strata_oci::image::config::history_of;
use strata_oci::image::reference::split_key;
use strata_oci::image::{self, size, untagged, StoredImage};
use strata_oci::Result;

use super::units::{ellipsis, go_time, human_duration, human_size_with_precision, parse_rfc3339};

/// Significant digits of sizes in docker's listings (`images`, `history`: go-units
/// `HumanSizeWithPrecision(size, 3)`, so `4.26MB`, `123kB`, and `1e+03kB` at the edge, as Go
/// prints it). Totals use [`super::units::human_size`]'s four.
const LISTING_PRECISION: usize = 3;

/// A size as docker's listings print it.
fn listing_size(bytes: u64) -> String {
    human_size_with_precision(bytes, LISTING_PRECISION)
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
        let size = listing_size(size(store, image)?);
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
            "Size": if options.human { listing_size(size) } else { size.to_string() },
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
