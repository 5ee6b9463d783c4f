//! Alpine packages: apk's installed database (`/lib/apk/db/installed`), one record per package
//! of single-letter `K:value` lines, records separated by blank lines.

use std::path::Path;

use super::rootfs::RootFs;
use super::{Distro, Ecosystem, Found, Package, DATABASE_CAP};

const INSTALLED: &str = "/lib/apk/db/installed";

/// Reads the database and adds its packages.
pub(super) fn scan(fs: &RootFs, distro: Option<&Distro>, found: &mut Found) {
    if let Some(text) = found.read(fs, Path::new(INSTALLED), DATABASE_CAP) {
        found.packages.extend(parse(&text, distro));
    }
}

/// One record's fields of interest.
#[derive(Default)]
struct Record<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    origin: Option<&'a str>,
    license: Option<&'a str>,
    maintainer: Option<&'a str>,
    url: Option<&'a str>,
}

/// The packages of the database's text.
pub(super) fn parse(text: &str, distro: Option<&Distro>) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut record = Record::default();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let Some(package) = package(&std::mem::take(&mut record), distro) {
                packages.push(package);
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = Some(value.trim()).filter(|v| !v.is_empty());
        match key {
            "P" => record.name = value,
            "V" => record.version = value,
            "A" => record.arch = value,
            "o" => record.origin = value,
            "L" => record.license = value,
            "m" => record.maintainer = value,
            "U" => record.url = value,
            _ => {}
        }
    }
    packages
}

fn package(record: &Record<'_>, distro: Option<&Distro>) -> Option<Package> {
    let name = record.name?;
    let version = record.version?;
    let namespace = distro.map_or("alpine", |d| d.id.as_str());
    let distro_qualifier = distro.map(Distro::qualifier).unwrap_or_default();
    let upstream = record.origin.filter(|o| *o != name).unwrap_or_default();
    let purl = crate::purl::purl(
        "apk",
        Some(namespace),
        name,
        Some(version),
        &[
            ("arch", record.arch.unwrap_or_default()),
            ("upstream", upstream),
            ("distro", &distro_qualifier),
        ],
    );
    Some(Package {
        purl,
        location: INSTALLED.to_string(),
        ecosystem: Ecosystem::Apk,
        name: name.to_string(),
        version: version.to_string(),
        license: record.license.map(str::to_string),
        supplier: record.maintainer.map(str::to_string),
        homepage: record.url.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED_TEXT: &str = "\
C:Q1hfgzLAxSK4NOgnN1l3wV5fPHXEo=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1705411575
c:ca7f2ab5e88794e4e654b40776f8a92256f50639
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1I3tWy5sDLWvy1Tl8/2z1Ly4DPKk=
R:libc.musl-x86_64.so.1

C:Q1+s4/CUpRcZfj8xOfr6A3cwZB7XA=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
F:bin

P:no-version
A:x86_64
garbage line without colon
";

    #[test]
    fn records_become_packages_with_origin_and_distro() {
        let distro = Distro {
            id: "alpine".into(),
            version_id: Some("3.19.1".into()),
        };
        let packages = parse(INSTALLED_TEXT, Some(&distro));
        assert_eq!(packages.len(), 2);
        assert_eq!(
            packages[0].purl,
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
        );
        assert_eq!(packages[0].license.as_deref(), Some("MIT"));
        assert_eq!(
            packages[0].homepage.as_deref(),
            Some("https://musl.libc.org/")
        );
        assert_eq!(
            packages[1].purl,
            "pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox"
        );
    }
}
