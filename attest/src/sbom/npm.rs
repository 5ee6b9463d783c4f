//! npm packages: the `package.json` at the top of each package directory under a
//! `node_modules` (`node_modules/NAME/` or, scoped, `node_modules/@SCOPE/NAME/`), which is
//! what npm, yarn and pnpm's hoisted layouts install.

use std::path::{Component, Path};

use serde_json::Value;

use super::rootfs::RootFs;
use super::{non_empty, Ecosystem, Found, Package, MANIFEST_CAP};

/// Whether `path` (ending in `package.json`) is a package's own manifest, not one of the
/// many a package ships inside itself (`node_modules/x/lib/package.json`).
pub(super) fn is_package_root(path: &Path) -> bool {
    let parts: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    match parts.as_slice() {
        [.., modules, scope, _name, _json]
            if *modules == "node_modules" && scope.to_str().is_some_and(|s| s.starts_with('@')) =>
        {
            true
        }
        [.., modules, name, _json] => {
            *modules == "node_modules" && name.to_str().is_some_and(|n| !n.starts_with(['@', '.']))
        }
        _ => false,
    }
}

/// Reads one manifest and adds its package.
pub(super) fn read(fs: &RootFs, path: &Path, found: &mut Found) {
    let Some(text) = found.read(fs, path, MANIFEST_CAP) else {
        return;
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(manifest) => {
            if let Some(package) = parse(&manifest, &path.display().to_string()) {
                found.packages.push(package);
            }
        }
        Err(e) => found.skip(path, format!("not JSON: {e}")),
    }
}

/// The package a manifest describes; None without a name and a version.
pub(super) fn parse(manifest: &Value, location: &str) -> Option<Package> {
    let name = manifest.get("name")?.as_str()?.trim();
    let version = manifest.get("version")?.as_str()?.trim();
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let (namespace, short) = match name.split_once('/') {
        Some((scope, short)) if scope.starts_with('@') => (Some(scope), short),
        _ => (None, name),
    };
    let purl = crate::purl::purl("npm", namespace, short, Some(version), &[]);
    // `"license": "MIT"`, or the older `{"type": "MIT", "url": …}`.
    let license = match manifest.get("license") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Object(o)) => o.get("type").and_then(Value::as_str),
        _ => None,
    };
    let author = match manifest.get("author") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("name").and_then(Value::as_str).map(|name| {
            match o.get("email").and_then(Value::as_str) {
                Some(email) => format!("{name} <{email}>"),
                None => name.to_string(),
            }
        }),
        _ => None,
    };
    Some(Package {
        purl,
        location: location.to_string(),
        ecosystem: Ecosystem::Npm,
        name: name.to_string(),
        version: version.to_string(),
        license: non_empty(license),
        supplier: non_empty(author.as_deref()),
        homepage: non_empty(manifest.get("homepage").and_then(Value::as_str)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_package_roots_count() {
        assert!(is_package_root(Path::new(
            "/app/node_modules/express/package.json"
        )));
        assert!(is_package_root(Path::new(
            "/app/node_modules/@babel/core/package.json"
        )));
        assert!(is_package_root(Path::new(
            "/app/node_modules/a/node_modules/b/package.json"
        )));
        assert!(!is_package_root(Path::new("/app/package.json")));
        assert!(!is_package_root(Path::new(
            "/app/node_modules/express/lib/package.json"
        )));
        assert!(!is_package_root(Path::new(
            "/app/node_modules/@babel/package.json"
        )));
        assert!(!is_package_root(Path::new(
            "/app/node_modules/.bin/package.json"
        )));
    }

    #[test]
    fn manifests_become_npm_packages() {
        let scoped = parse(
            &json!({"name": "@babel/core", "version": "7.23.0", "license": "MIT",
                    "author": {"name": "The Babel Team", "email": "t@babel.dev"}}),
            "/p",
        )
        .unwrap();
        assert_eq!(scoped.purl, "pkg:npm/%40babel/core@7.23.0");
        assert_eq!(
            scoped.supplier.as_deref(),
            Some("The Babel Team <t@babel.dev>")
        );
        let old = parse(
            &json!({"name": "left-pad", "version": "1.3.0", "license": {"type": "WTFPL"}}),
            "/p",
        )
        .unwrap();
        assert_eq!(old.purl, "pkg:npm/left-pad@1.3.0");
        assert_eq!(old.license.as_deref(), Some("WTFPL"));
        assert_eq!(parse(&json!({"name": "x"}), "/p"), None);
        assert_eq!(parse(&json!({"name": 1, "version": "1"}), "/p"), None);
        assert_eq!(parse(&json!([1, 2]), "/p"), None);
    }
}
