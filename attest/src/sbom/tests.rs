//! Whole-tree scans: every ecosystem together, hostile trees, and the SPDX document.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::spdx::{document, to_json, DocumentInfo};
use super::*;

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, text).unwrap();
}

/// A Debian image with pip and npm packages in the usual places.
fn image_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
    write(
        root,
        "var/lib/dpkg/status",
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n\
         Version: 1:1.2.13.dfsg-1\n\nPackage: gone\nStatus: purge ok not-installed\nVersion: 1\n",
    );
    write(
        root,
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
        "Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\nLicense: MIT\n",
    );
    write(
        root,
        "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n",
    );
    write(
        root,
        "opt/venv/lib/python3.11/site-packages/PyYAML-6.0.1.egg-info/PKG-INFO",
        "Name: PyYAML\nVersion: 6.0.1\n",
    );
    write(
        root,
        "app/node_modules/express/package.json",
        r#"{"name": "express", "version": "4.18.2", "license": "MIT"}"#,
    );
    write(
        root,
        "app/node_modules/express/lib/package.json",
        r#"{"name": "not-a-package", "version": "0.0.0"}"#,
    );
    write(
        root,
        "app/node_modules/@types/node/package.json",
        r#"{"name": "@types/node", "version": "20.10.0"}"#,
    );
    write(
        root,
        "app/node_modules/express/node_modules/debug/package.json",
        r#"{"name": "debug", "version": "2.6.9"}"#,
    );
    let modinfo = b"path\texample.com/cmd\nmod\texample.com/cmd\t(devel)\t\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:x=\n";
    let binary = root.join("usr/local/bin/cmd");
    fs::create_dir_all(binary.parent().unwrap()).unwrap();
    fs::write(&binary, gobinary::elf_with_buildinfo(modinfo)).unwrap();
    fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // The same bytes without the executable bit are not a program: not read.
    fs::write(
        root.join("usr/local/bin/data"),
        gobinary::elf_with_buildinfo(b"mod\tx.io/y\tv1\t\n"),
    )
    .unwrap();
    dir
}

#[test]
fn a_tree_with_every_ecosystem_lists_each_package_once() {
    let dir = image_tree();
    let scan = scan(dir.path()).unwrap();
    let purls: Vec<&str> = scan.packages.iter().map(|p| p.purl.as_str()).collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib",
            "pkg:golang/example.com/cmd@%28devel%29",
            "pkg:golang/github.com/pkg/errors@v0.9.1",
            "pkg:npm/%40types/node@20.10.0",
            "pkg:npm/debug@2.6.9",
            "pkg:npm/express@4.18.2",
            "pkg:pypi/pyyaml@6.0.1",
            "pkg:pypi/requests@2.31.0",
            "pkg:pypi/six@1.16.0",
        ]
    );
    assert_eq!(scan.distro.as_ref().unwrap().qualifier(), "debian-12");
    let requests = scan.packages.iter().find(|p| p.name == "requests").unwrap();
    assert_eq!(
        requests.location,
        "/usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA"
    );
    assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
}

#[test]
fn a_hostile_tree_is_read_only_inside_and_never_hangs() {
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "METADATA",
        "Name: host-secret\nVersion: 1\n",
    );
    write(
        outside.path(),
        "status",
        "Package: host-package\nStatus: install ok installed\nVersion: 1\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // The dpkg database and a METADATA point at host files; a dist-info dir is a symlink to a
    // host directory; a symlink loop; a FIFO where a manifest should be; garbage and oversized
    // manifests.
    fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    symlink(
        outside.path().join("status"),
        root.join("var/lib/dpkg/status"),
    )
    .unwrap();
    let site = root.join("usr/lib/python3/site-packages");
    fs::create_dir_all(site.join("evil-1.dist-info")).unwrap();
    symlink(
        outside.path().join("METADATA"),
        site.join("evil-1.dist-info/METADATA"),
    )
    .unwrap();
    symlink(outside.path(), site.join("linked-1.dist-info")).unwrap();
    symlink("loop-b", site.join("loop-a")).unwrap();
    symlink("loop-a", site.join("loop-b")).unwrap();
    fs::create_dir_all(site.join("loopy-1.dist-info")).unwrap();
    symlink("../loop-a", site.join("loopy-1.dist-info/METADATA")).unwrap();
    let fifo_dir = root.join("app/node_modules/fifo");
    fs::create_dir_all(&fifo_dir).unwrap();
    let fifo = std::ffi::CString::new(fifo_dir.join("package.json").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    write(
        root,
        "app/node_modules/garbage/package.json",
        "{\"name\": \"x\", \"vers",
    );
    write(
        root,
        "app/node_modules/binary/package.json",
        "\u{0}\u{ff}\u{1}",
    );
    let huge = format!(
        r#"{{"name": "huge", "version": "1", "pad": "{}"}}"#,
        "x".repeat(MANIFEST_CAP as usize)
    );
    write(root, "app/node_modules/huge/package.json", &huge);
    write(
        root,
        "lib/apk/db/installed",
        "P:\nV:\n\n\u{0}:::\nP:only-name\n",
    );

    let scan = scan(root).unwrap();
    assert!(scan.packages.is_empty(), "{:?}", scan.packages);
    let skipped: Vec<(&str, &str)> = scan
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.split(':').next().unwrap()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("/app/node_modules/binary/package.json", "not JSON"),
            ("/app/node_modules/garbage/package.json", "not JSON"),
            (
                "/app/node_modules/huge/package.json",
                "larger than 4194304 bytes"
            ),
        ]
    );
}

#[test]
fn a_symlinked_database_inside_the_image_is_followed_there() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "usr/share/dpkg-real/status",
        "Package: inside\nStatus: install ok installed\nVersion: 2\n",
    );
    fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    symlink(
        "/usr/share/dpkg-real/status",
        root.join("var/lib/dpkg/status"),
    )
    .unwrap();
    let scan = scan(root).unwrap();
    assert_eq!(scan.packages.len(), 1);
    assert_eq!(scan.packages[0].name, "inside");
}

#[test]
fn a_missing_root_is_an_error_and_an_empty_one_is_not() {
    assert!(scan(Path::new("/nonexistent/strata/root")).is_err());
    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(scan(file.path()), Err(Error::RootNotDirectory(_))));
    let empty = tempfile::tempdir().unwrap();
    assert!(scan(empty.path()).unwrap().packages.is_empty());
}

fn spdx_json(root: &Path, epoch: i64) -> Vec<u8> {
    let scan = scan(root).unwrap();
    let created = crate::time::creation_time(Some(epoch), UNIX_EPOCH + Duration::from_secs(5));
    to_json(&document(&scan, &DocumentInfo::new("app:latest", created))).unwrap()
}

#[test]
fn the_spdx_document_has_every_required_field_and_consistent_references() {
    let dir = image_tree();
    let doc: Value = serde_json::from_slice(&spdx_json(dir.path(), 1_700_000_000)).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["dataLicense"], "CC0-1.0");
    assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(doc["name"], "app:latest");
    assert!(doc["documentNamespace"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        doc["creationInfo"]["creators"][0],
        format!("Tool: strata-{}", env!("CARGO_PKG_VERSION"))
    );
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 10, "the image itself and its 9 packages");
    let mut ids = BTreeSet::new();
    for package in packages {
        for required in ["name", "SPDXID", "downloadLocation"] {
            assert!(package[required].is_string(), "{required} in {package}");
        }
        let id = package["SPDXID"].as_str().unwrap();
        assert!(id.starts_with("SPDXRef-"));
        assert!(id["SPDXRef-".len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
        assert!(ids.insert(id.to_string()), "duplicate {id}");
        assert_eq!(package["filesAnalyzed"], false);
    }
    let zlib = packages.iter().find(|p| p["name"] == "zlib1g").unwrap();
    assert_eq!(zlib["versionInfo"], "1:1.2.13.dfsg-1");
    assert_eq!(
        zlib["externalRefs"][0],
        serde_json::json!({
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib",
        })
    );
    let requests = packages.iter().find(|p| p["name"] == "requests").unwrap();
    assert_eq!(
        requests["licenseDeclared"], "NOASSERTION",
        "free text is no expression"
    );
    let six = packages.iter().find(|p| p["name"] == "six").unwrap();
    assert_eq!(six["licenseDeclared"], "MIT");
    let relationships = doc["relationships"].as_array().unwrap();
    let describes: Vec<_> = relationships
        .iter()
        .filter(|r| r["relationshipType"] == "DESCRIBES")
        .collect();
    assert_eq!(describes.len(), 1);
    assert_eq!(describes[0]["spdxElementId"], "SPDXRef-DOCUMENT");
    for relationship in relationships {
        for end in ["spdxElementId", "relatedSpdxElement"] {
            let id = relationship[end].as_str().unwrap();
            assert!(
                id == "SPDXRef-DOCUMENT" || ids.contains(id),
                "dangling {id}"
            );
        }
    }
    assert_eq!(
        relationships.len(),
        10,
        "DESCRIBES + one CONTAINS per package"
    );
}

#[test]
fn the_same_tree_gives_the_same_bytes() {
    let first = image_tree();
    let second = image_tree();
    assert_eq!(spdx_json(first.path(), 0), spdx_json(second.path(), 0));
    assert_ne!(spdx_json(first.path(), 0), spdx_json(first.path(), 1));
    // Another package changes the namespace too: it names this document only.
    let doc = |root: &Path| -> Value { serde_json::from_slice(&spdx_json(root, 0)).unwrap() };
    let before = doc(second.path())["documentNamespace"].clone();
    write(
        second.path(),
        "app/node_modules/ms/package.json",
        r#"{"name":"ms","version":"2.0.0"}"#,
    );
    assert_ne!(doc(second.path())["documentNamespace"], before);
}

#[test]
fn sbom_flag_values_parse_as_buildx() {
    assert!(parse_flag("true").unwrap());
    assert!(parse_flag("").unwrap());
    assert!(!parse_flag("false").unwrap());
    assert!(!parse_flag("disabled=true").unwrap());
    assert!(parse_flag("generator=docker/buildkit-syft-scanner").is_err());
    assert!(parse_flag("yes please").is_err());
}
