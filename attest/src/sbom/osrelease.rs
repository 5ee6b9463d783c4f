//! Which distribution an image is (`/etc/os-release`): the purl namespace and `distro`
//! qualifier of its system packages (`pkg:deb/debian/…?distro=debian-12`).

use std::path::Path;

use serde::Serialize;

use super::rootfs::RootFs;
use super::{Found, MANIFEST_CAP};

/// The distribution an image says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distro {
    /// `ID` (`debian`, `ubuntu`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`), when given (Debian testing has none).
    pub version_id: Option<String>,
}

impl Distro {
    /// The purl `distro` qualifier: `debian-12`, or just the ID.
    pub fn qualifier(&self) -> String {
        match &self.version_id {
            Some(version) => format!("{}-{version}", self.id),
            None => self.id.clone(),
        }
    }
}

/// Reads `/etc/os-release`, else `/usr/lib/os-release` (where `/etc`'s usually points).
pub(super) fn read(fs: &RootFs, found: &mut Found) -> Option<Distro> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| found.read(fs, Path::new(path), MANIFEST_CAP))
        .and_then(|text| parse(&text))
}

/// Parses os-release's shell-like `KEY=value` lines (values optionally quoted).
fn parse(text: &str) -> Option<Distro> {
    let mut id = None;
    let mut version_id = None;
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        // An ID goes into purls: keep it to the characters os-release allows.
        let value = value
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect::<String>()
            .to_ascii_lowercase();
        if value.is_empty() {
            continue;
        }
        match key {
            "ID" => id = Some(value),
            "VERSION_ID" => version_id = Some(value),
            _ => {}
        }
    }
    Some(Distro {
        id: id?,
        version_id,
    })
}

fn unquote(value: &str) -> String {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    inner.replace('\\', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_id_and_version_quoted_or_not() {
        let debian =
            parse("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")
                .unwrap();
        assert_eq!(debian.qualifier(), "debian-12");
        let alpine = parse("ID='alpine'\nVERSION_ID=3.19.1\n").unwrap();
        assert_eq!(alpine.qualifier(), "alpine-3.19.1");
        let testing = parse("ID=debian\n").unwrap();
        assert_eq!(testing.qualifier(), "debian");
        assert_eq!(parse("NAME=x\n"), None);
        assert_eq!(parse("ID=\"a/b c\"\n").unwrap().id, "abc");
    }
}
