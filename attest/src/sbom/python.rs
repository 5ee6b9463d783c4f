//! Python distributions: the core metadata (`Name`, `Version`, `License`…) that pip and
//! setuptools leave in `NAME-VERSION.dist-info/METADATA`, `NAME.egg-info/PKG-INFO` or an
//! `NAME.egg-info` file, wherever a `site-packages` or `dist-packages` directory is.

use std::path::Path;

use super::control::{field, fields, headers};
use super::rootfs::RootFs;
use super::{non_empty, Ecosystem, Found, Package, MANIFEST_CAP};

/// Reads one metadata file and adds its distribution.
pub(super) fn read(fs: &RootFs, path: &Path, found: &mut Found) {
    if let Some(text) = found.read(fs, path, MANIFEST_CAP) {
        if let Some(package) = parse(&text, &path.display().to_string()) {
            found.packages.push(package);
        }
    }
}

/// The distribution a metadata file describes; None without a name and a version.
pub(super) fn parse(text: &str, location: &str) -> Option<Package> {
    let headers = headers(text);
    let name = field(&headers, "Name")?.trim();
    let version = field(&headers, "Version")?.trim();
    if name.is_empty() || version.is_empty() || name.contains('\n') || version.contains('\n') {
        return None;
    }
    let purl = crate::purl::purl("pypi", None, &normalize(name), Some(version), &[]);
    // PEP 639's SPDX expression when given; else the free-text `License`, when it is one line
    // (many distributions paste the whole license text there).
    let license = field(&headers, "License-Expression")
        .or_else(|| field(&headers, "License").filter(|l| !l.contains('\n') && l.len() <= 100));
    let homepage = field(&headers, "Home-page").or_else(|| {
        fields(&headers, "Project-URL").find_map(|entry| {
            let (label, url) = entry.split_once(',')?;
            label
                .trim()
                .eq_ignore_ascii_case("homepage")
                .then_some(url.trim())
        })
    });
    let supplier = field(&headers, "Author-email")
        .or_else(|| field(&headers, "Author"))
        .or_else(|| field(&headers, "Maintainer-email"))
        .or_else(|| field(&headers, "Maintainer"));
    Some(Package {
        purl,
        location: location.to_string(),
        ecosystem: Ecosystem::Python,
        name: name.to_string(),
        version: version.to_string(),
        license: non_empty(license),
        supplier: non_empty(supplier.filter(|s| !s.contains('\n'))),
        homepage: non_empty(homepage),
    })
}

/// PEP 503's normalized name, which purl's `pypi` type asks for: lower case, runs of `-`, `_`
/// and `.` made one `-`.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !out.is_empty() {
            out.push('-');
        }
        separator = false;
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "\
Metadata-Version: 2.1
Name: Flask_SQLAlchemy
Version: 3.1.1
Summary: Add SQLAlchemy support to your Flask application.
Author-email: Armin Ronacher <armin.ronacher@active-4.com>
Requires-Python: >=3.8
License: BSD-3-Clause
Project-URL: Documentation, https://flask-sqlalchemy.palletsprojects.com
Project-URL: Homepage, https://github.com/pallets-eco/flask-sqlalchemy
Classifier: License :: OSI Approved :: BSD License
Requires-Dist: flask>=2.2.5

# Flask-SQLAlchemy
Name: body-is-not-read
";

    #[test]
    fn metadata_headers_become_a_pypi_package() {
        let package = parse(METADATA, "/x/METADATA").unwrap();
        assert_eq!(package.name, "Flask_SQLAlchemy");
        assert_eq!(package.purl, "pkg:pypi/flask-sqlalchemy@3.1.1");
        assert_eq!(package.license.as_deref(), Some("BSD-3-Clause"));
        assert_eq!(
            package.homepage.as_deref(),
            Some("https://github.com/pallets-eco/flask-sqlalchemy")
        );
        assert_eq!(
            package.supplier.as_deref(),
            Some("Armin Ronacher <armin.ronacher@active-4.com>")
        );
    }

    #[test]
    fn pasted_license_texts_and_nameless_files_are_not_taken() {
        let pasted = "Name: x\nVersion: 1\nLicense: Copyright (c) someone\n    Permission is hereby granted\n";
        assert_eq!(parse(pasted, "/p").unwrap().license, None);
        assert_eq!(parse("Version: 1\n", "/p"), None);
        assert_eq!(parse("Name: x\n", "/p"), None);
        assert_eq!(parse("\u{0}\u{1}binary", "/p"), None);
    }

    #[test]
    fn names_normalize_as_pep_503() {
        assert_eq!(normalize("Zope.Interface__x"), "zope-interface-x");
        assert_eq!(normalize("_leading"), "leading");
    }
}
