//! `strata inspect` and `strata history`: docker-style views of an image.

use std::process::ExitCode;

use serde_json::{json, Value};
use strata_builder::image::{self, config::history_of};

use crate::store::{human_size, open};
use crate::Global;

/// Arguments of `strata inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A Go-template subset: `{{.Field.Sub}}` and `{{json .Field}}`.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Images to inspect.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Arguments of `strata history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only image IDs... of which strata has one per image: print created-by lines only.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image.
    pub image: String,
}

fn inspect_json(store: &strata_cache::Store, reference: &str) -> anyhow::Result<Value> {
    let found = image::find(store, reference)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{reference}`"))?;
    let tags: Vec<String> = store
        .index()
        .tags()?
        .into_iter()
        .filter(|(_, m)| *m == found.manifest)
        .map(|(n, _)| n)
        .collect();
    let size: u64 = found
        .diff_ids
        .iter()
        .filter_map(|d| store.index().layer(d).ok().flatten())
        .map(|r| r.size)
        .sum();
    let config = &found.config;
    Ok(json!({
        "Id": found.id.to_string(),
        "RepoTags": tags,
        "RepoDigests": [],
        "Parent": "",
        "Comment": "",
        "Created": config["created"],
        "Author": config["author"].as_str().unwrap_or(""),
        "Config": config["config"],
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Size": size,
        "RootFS": {"Type": "layers", "Layers": config["rootfs"]["diff_ids"]},
        "Metadata": {"LastTagTime": ""},
    }))
}

/// Evaluates `{{.A.B}}` / `{{json .A.B}}` templates (with text around them) as docker does for
/// these forms: strings print bare, lists as `[a b]`, objects as `map[k:v]`, `json` as JSON.
pub fn render_template(template: &str, value: &Value) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| anyhow::anyhow!("unclosed `{{{{` in template"))?
            + start;
        let expr = rest[start + 2..end].trim();
        let (as_json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        let path = path
            .strip_prefix('.')
            .ok_or_else(|| anyhow::anyhow!("unsupported template expression `{expr}`"))?;
        let mut current = value;
        for field in path.split('.').filter(|f| !f.is_empty()) {
            current = current.get(field).unwrap_or(&Value::Null);
        }
        out.push_str(&if as_json {
            current.to_string()
        } else {
            go_format(current)
        });
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_format(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Runs `strata inspect`.
pub fn inspect(global: &Global, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open(global)?;
    let values = args
        .images
        .iter()
        .map(|r| inspect_json(&store, r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match &args.format {
        Some(template) => {
            for value in &values {
                println!("{}", render_template(template, value)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(values))?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `strata history`.
pub fn history(global: &Global, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = open(global)?;
    let found = image::find(&store, &args.image)?
        .ok_or_else(|| anyhow::anyhow!("no such image: `{}`", args.image))?;
    let mut layers = found.diff_ids.iter();
    let mut rows = Vec::new();
    for entry in history_of(&found.config) {
        let size = if entry.empty_layer {
            0
        } else {
            layers
                .next()
                .and_then(|d| store.index().layer(d).ok().flatten())
                .map_or(0, |r| r.size)
        };
        rows.push((
            entry.created,
            entry.created_by,
            size,
            entry.comment.unwrap_or_default(),
        ));
    }
    rows.reverse();
    if args.quiet {
        for (_, created_by, _, _) in rows {
            println!("{created_by}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14} {:<22} {:<60} {:<10} COMMENT",
        "IMAGE", "CREATED", "CREATED BY", "SIZE"
    );
    for (index, (created, created_by, size, comment)) in rows.iter().enumerate() {
        let id = if index == 0 {
            found.id.hex()[..12].to_string()
        } else {
            "<missing>".into()
        };
        let shown: String = created_by.chars().take(58).collect();
        println!(
            "{id:<14} {created:<22} {shown:<60} {:<10} {comment}",
            human_size(*size)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_like_docker_for_fields_and_json() {
        let value =
            json!({"Id": "sha256:ab", "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}}});
        assert_eq!(render_template("{{.Id}}", &value).unwrap(), "sha256:ab");
        assert_eq!(
            render_template("{{json .Config.Env}}", &value).unwrap(),
            r#"["A=1","B=2"]"#
        );
        assert_eq!(
            render_template("env={{.Config.Env}}", &value).unwrap(),
            "env=[A=1 B=2]"
        );
        assert_eq!(
            render_template("{{.Config.Labels}}", &value).unwrap(),
            "map[k:v]"
        );
        assert!(render_template("{{.Id", &value).is_err());
    }
}
