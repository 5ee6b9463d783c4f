//! Debian packages: dpkg's status database (`/var/lib/dpkg/status`) and the per-package files
//! distroless images keep in `/var/lib/dpkg/status.d/` instead.

use std::path::{Path, PathBuf};

use super::control::{field, paragraphs};
use super::rootfs::RootFs;
use super::{non_empty, Distro, Ecosystem, Found, Package, DATABASE_CAP};

const STATUS: &str = "/var/lib/dpkg/status";
const STATUS_D: &str = "/var/lib/dpkg/status.d";

/// Reads both places and adds what is installed.
pub(super) fn scan(fs: &RootFs, distro: Option<&Distro>, found: &mut Found) {
    let mut files = vec![PathBuf::from(STATUS)];
    for name in fs.list(Path::new(STATUS_D)) {
        let Some(name) = name.to_str() else { continue };
        // distroless keeps each package's file checksums beside its record.
        if !name.ends_with(".md5sums") && !name.starts_with('.') {
            files.push(Path::new(STATUS_D).join(name));
        }
    }
    for path in files {
        if let Some(text) = found.read(fs, &path, DATABASE_CAP) {
            let location = path.display().to_string();
            found.packages.extend(parse(&text, distro, &location));
        }
    }
}

/// The installed packages of a status file's text.
pub(super) fn parse(text: &str, distro: Option<&Distro>, location: &str) -> Vec<Package> {
    let namespace = distro.map_or("debian", |d| d.id.as_str());
    let distro_qualifier = distro.map(Distro::qualifier).unwrap_or_default();
    paragraphs(text)
        .iter()
        .filter_map(|p| {
            let name = field(p, "Package")?;
            let version = field(p, "Version")?;
            // distroless's status.d files carry no Status: being there means installed.
            if field(p, "Status").is_some_and(|status| !files_present(status)) {
                return None;
            }
            let arch = field(p, "Architecture").unwrap_or_default();
            // `Source: glibc (2.36-9)`: the source package, without its version.
            let upstream = field(p, "Source")
                .and_then(|s| s.split_whitespace().next())
                .filter(|s| *s != name)
                .unwrap_or_default();
            let purl = crate::purl::purl(
                "deb",
                Some(namespace),
                name,
                Some(version),
                &[
                    ("arch", arch),
                    ("upstream", upstream),
                    ("distro", &distro_qualifier),
                ],
            );
            Some(Package {
                purl,
                location: location.to_string(),
                ecosystem: Ecosystem::Deb,
                name: name.to_string(),
                version: version.to_string(),
                license: None,
                supplier: non_empty(field(p, "Maintainer")),
                homepage: non_empty(field(p, "Homepage")),
            })
        })
        .collect()
}

/// Whether a `Status: WANT FLAG STATE` line means the package's files are on disk: every
/// state but `not-installed`, `config-files` (removed, configuration kept) and
/// `half-installed` (an install or removal that did not finish).
fn files_present(status: &str) -> bool {
    match status.split_whitespace().nth(2) {
        Some(state) => !matches!(state, "not-installed" | "config-files" | "half-installed"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_TEXT: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 This package includes shared versions of the standard C library.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: old-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Conffiles:
 /etc/old-tool.conf 0123456789abcdef0123456789abcdef

Package: bsdutils
Essential: yes
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 1:2.38.1-5+deb12u1
Description: basic utilities from 4.4BSD-Lite

Package: broken
Status: install ok installed

Package: half
Status: install reinstreq half-installed
Version: 2
";

    #[test]
    fn installed_packages_only_with_their_source_and_distro() {
        let distro = Distro {
            id: "debian".into(),
            version_id: Some("12".into()),
        };
        let packages = parse(STATUS_TEXT, Some(&distro), STATUS);
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libc6", "bsdutils"]);
        assert_eq!(
            packages[0].purl,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
        assert_eq!(
            packages[0].supplier.as_deref(),
            Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>")
        );
        assert_eq!(
            packages[1].purl,
            "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=util-linux"
        );
        assert_eq!(packages[1].version, "1:2.38.1-5+deb12u1");
    }

    #[test]
    fn distroless_status_d_records_count_without_a_status_line() {
        let dir = tempfile::tempdir().unwrap();
        let status_d = dir.path().join("var/lib/dpkg/status.d");
        std::fs::create_dir_all(&status_d).unwrap();
        std::fs::write(
            status_d.join("base-files"),
            "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
        )
        .unwrap();
        std::fs::write(status_d.join("base-files.md5sums"), "abc  etc/issue\n").unwrap();
        let mut found = Found::default();
        scan(&RootFs::new(dir.path()), None, &mut found);
        assert_eq!(found.packages.len(), 1);
        assert_eq!(
            found.packages[0].location,
            "/var/lib/dpkg/status.d/base-files"
        );
        assert_eq!(
            found.packages[0].purl,
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64"
        );
    }
}
