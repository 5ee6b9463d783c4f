//! The scan as an SPDX 2.3 JSON document (<https://spdx.github.io/spdx-spec/v2.3/>), the SBOM
//! format BuildKit attaches (predicate type [`PREDICATE_TYPE`]).
//!
//! The document is a function of its inputs: packages sorted, identifiers derived from each
//! package's purl and location, the namespace from a hash of the content, and the creation
//! time given by the caller (`SOURCE_DATE_EPOCH` for reproducible builds, see
//! [`crate::time::creation_time`]). Two scans of the same filesystem give the same bytes.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{Package, Scan};
use crate::error::Result;

/// The in-toto predicate type of an SPDX document.
pub const PREDICATE_TYPE: &str = "https://spdx.dev/Document";
/// Where document namespaces are rooted (a URI SPDX asks to be unique per document).
const NAMESPACE_BASE: &str = "https://github.com/strata-build/strata/spdx";
/// The identifier of the package that stands for the image itself.
const ROOT_ID: &str = "SPDXRef-DocumentRoot-Image";

/// What the document says about itself.
#[derive(Debug, Clone)]
pub struct DocumentInfo {
    /// The document's and the root package's name: the image name, or what was built.
    pub name: String,
    /// When it was made (see [`crate::time::creation_time`]).
    pub created: SystemTime,
    /// The tool line, `strata-VERSION` ([`DocumentInfo::new`] fills it).
    pub tool: String,
}

impl DocumentInfo {
    /// A document named `name`, made by this version of strata at `created`.
    pub fn new(name: &str, created: SystemTime) -> Self {
        DocumentInfo {
            name: name.to_string(),
            created,
            tool: format!("strata-{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// An SPDX 2.3 document, fields named as the JSON schema names them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    relationships: Vec<Relationship>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    supplier: String,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    homepage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

const NOASSERTION: &str = "NOASSERTION";

/// The SPDX document of a scan: a root package for the image that the document DESCRIBES and
/// that CONTAINS every package found.
pub fn document(scan: &Scan, info: &DocumentInfo) -> Document {
    let mut used_ids = BTreeSet::from([ROOT_ID.to_string()]);
    let mut packages = vec![SpdxPackage {
        name: info.name.clone(),
        spdx_id: ROOT_ID.to_string(),
        version_info: None,
        supplier: NOASSERTION.to_string(),
        download_location: NOASSERTION,
        files_analyzed: false,
        homepage: None,
        source_info: None,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.to_string(),
        copyright_text: NOASSERTION,
        primary_package_purpose: Some("CONTAINER"),
        external_refs: Vec::new(),
    }];
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".to_string(),
        relationship_type: "DESCRIBES",
        related_spdx_element: ROOT_ID.to_string(),
    }];
    let mut sorted: Vec<&Package> = scan.packages.iter().collect();
    sorted.sort();
    for package in sorted {
        let id = unique_id(package, &mut used_ids);
        relationships.push(Relationship {
            spdx_element_id: ROOT_ID.to_string(),
            relationship_type: "CONTAINS",
            related_spdx_element: id.clone(),
        });
        packages.push(spdx_package(package, id));
    }
    let content_hash = {
        let mut hasher = Sha256::new();
        hasher.update(info.name.as_bytes());
        for package in &scan.packages {
            hasher.update([0]);
            hasher.update(package.purl.as_bytes());
            hasher.update([0]);
            hasher.update(package.location.as_bytes());
        }
        hex::encode(hasher.finalize())
    };
    Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: info.name.clone(),
        document_namespace: format!(
            "{NAMESPACE_BASE}/{}-{}",
            id_safe(&info.name),
            &content_hash[..32]
        ),
        creation_info: CreationInfo {
            created: crate::time::rfc3339_seconds(info.created),
            creators: vec![format!("Tool: {}", info.tool)],
        },
        packages,
        relationships,
    }
}

/// The document as JSON bytes.
pub fn to_json(document: &Document) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(document)?)
}

fn spdx_package(package: &Package, spdx_id: String) -> SpdxPackage {
    SpdxPackage {
        name: package.name.clone(),
        spdx_id,
        version_info: Some(package.version.clone()),
        supplier: package
            .supplier
            .as_deref()
            .map_or_else(|| NOASSERTION.to_string(), supplier),
        download_location: NOASSERTION,
        files_analyzed: false,
        homepage: package.homepage.clone().filter(|h| is_url(h)),
        source_info: Some(format!(
            "acquired package info from {}: {}",
            source_kind(package),
            package.location
        )),
        license_concluded: NOASSERTION,
        license_declared: package
            .license
            .as_deref()
            .filter(|l| is_license_expression(l))
            .map_or_else(|| NOASSERTION.to_string(), str::to_string),
        copyright_text: NOASSERTION,
        primary_package_purpose: None,
        external_refs: vec![ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: package.purl.clone(),
        }],
    }
}

fn source_kind(package: &Package) -> &'static str {
    match package.ecosystem {
        super::Ecosystem::Deb => "the dpkg database",
        super::Ecosystem::Apk => "the apk database",
        super::Ecosystem::Python => "installed Python package metadata",
        super::Ecosystem::Npm => "an installed npm package manifest",
        super::Ecosystem::Go => "Go module information in a binary",
    }
}

/// `SPDXRef-Package-deb-libc6-<hash>`: readable, and unique even when the same package sits in
/// two places (two virtualenvs).
fn unique_id(package: &Package, used: &mut BTreeSet<String>) -> String {
    let hash = hex::encode(Sha256::digest(
        format!("{}\0{}", package.purl, package.location).as_bytes(),
    ));
    let base = format!(
        "SPDXRef-Package-{}-{}-{}",
        package.ecosystem.as_str(),
        id_safe(&package.name),
        &hash[..16]
    );
    let mut id = base.clone();
    let mut n = 1;
    while !used.insert(id.clone()) {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

/// SPDX identifiers allow letters, digits, `.` and `-` only.
fn id_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `Name <email>` → `Person: Name (email)`, SPDX's supplier form.
fn supplier(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    match text.split_once('<') {
        Some((name, rest)) => {
            let email = rest.split('>').next().unwrap_or_default().trim();
            format!("Person: {} ({email})", name.trim())
        }
        None => format!("Person: {}", text.trim()),
    }
}

fn is_url(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && !text.contains(char::is_whitespace)
}

/// Whether `text` reads as an SPDX license expression (identifiers joined by AND, OR, WITH and
/// parentheses). Free text ("BSD License", "GPLv2+ and others") becomes NOASSERTION instead of
/// an invalid `licenseDeclared`.
fn is_license_expression(text: &str) -> bool {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let mut depth = 0i32;
    let mut expect_id = true;
    for token in spaced.split_whitespace() {
        match token {
            "(" if expect_id => depth += 1,
            ")" if !expect_id => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            "AND" | "OR" | "WITH" if !expect_id => expect_id = true,
            id if expect_id && is_license_id(id) => expect_id = false,
            _ => return false,
        }
    }
    depth == 0 && !expect_id
}

fn is_license_id(token: &str) -> bool {
    let id = token.strip_suffix('+').unwrap_or(token);
    id.chars().any(|c| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && !matches!(id, "and" | "or" | "with")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_expressions_are_told_from_free_text() {
        for ok in [
            "MIT",
            "GPL-2.0-only",
            "MIT OR Apache-2.0",
            "(MIT AND BSD-3-Clause) OR GPL-2.0+",
            "Apache-2.0 WITH LLVM-exception",
            "LicenseRef-x.1",
        ] {
            assert!(is_license_expression(ok), "{ok}");
        }
        for bad in [
            "BSD License",
            "GPLv2+ and others",
            "MIT OR",
            "(MIT",
            "MIT)",
            "",
            "A/B",
            "2.0",
        ] {
            assert!(!is_license_expression(bad), "{bad}");
        }
    }

    #[test]
    fn suppliers_take_spdx_form() {
        assert_eq!(
            supplier("GNU Libc Maintainers <debian-glibc@lists.debian.org>"),
            "Person: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
        );
        assert_eq!(supplier("Someone"), "Person: Someone");
    }
}
