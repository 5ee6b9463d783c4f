//! Finding the packages installed in an image's root filesystem, and writing them as an SPDX
//! 2.3 document.
//!
//! [`scan`] reads the package managers' own records — dpkg's status database (and the
//! `status.d/` files distroless images carry), apk's installed database, Python's
//! `*.dist-info/METADATA` and `*.egg-info`, npm's `node_modules/*/package.json`, the build
//! info Go writes into its binaries — from a
//! directory holding the image's flattened filesystem. The directory is untrusted: files are
//! read through `rootfs` (symlinks resolved inside the image, sizes capped, FIFOs never
//! opened) and parsers skip what they cannot read instead of failing.
//! [`spdx::document`] turns the result into SPDX JSON.

mod apk;
mod control;
mod dpkg;
mod gobinary;
mod npm;
mod osrelease;
mod python;
mod rootfs;
pub mod spdx;

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
pub use osrelease::Distro;
use rootfs::RootFs;

/// Largest package database read (dpkg `status`, apk `installed`): a large Debian image's
/// status is a few MB, its apk database with file lists a little more.
const DATABASE_CAP: u64 = 64 << 20;
/// Largest per-package manifest read (`METADATA`, `PKG-INFO`, `package.json`).
const MANIFEST_CAP: u64 = 4 << 20;

/// The package manager a package was found through (the purl type it gets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Debian's dpkg (`pkg:deb/…`).
    Deb,
    /// Alpine's apk (`pkg:apk/…`).
    Apk,
    /// Python distributions (`pkg:pypi/…`).
    Python,
    /// npm packages under `node_modules` (`pkg:npm/…`).
    Npm,
    /// Go modules compiled into a binary (`pkg:golang/…`).
    Go,
}

impl Ecosystem {
    /// A short word for it (used in SPDX identifiers).
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Python => "python",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "go",
        }
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Package {
    /// Its package URL, the identifier consumers match on; first, so packages sort by it.
    pub purl: String,
    /// The package manager's record it came from, as a path in the image
    /// (`/var/lib/dpkg/status`, `/usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA`).
    pub location: String,
    /// Which package manager.
    pub ecosystem: Ecosystem,
    /// The package's name as its manager spells it.
    pub name: String,
    /// Its version as its manager spells it.
    pub version: String,
    /// The license it declares, when its record names one.
    pub license: Option<String>,
    /// Who supplies it (`Name <email>` as the record gives it: a Debian maintainer, an author).
    pub supplier: Option<String>,
    /// Its home page.
    pub homepage: Option<String>,
}

/// A file the scanner passed over, and why (so a short SBOM is explained, not silent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// The path in the image.
    pub path: String,
    /// Why (`larger than 67108864 bytes`, `not JSON: …`).
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The distribution `/etc/os-release` names, if any.
    pub distro: Option<Distro>,
    /// Every package found, sorted by purl then location, without duplicates.
    pub packages: Vec<Package>,
    /// Files that were there but could not be used.
    pub skipped: Vec<Skipped>,
}

/// Collects what the ecosystem readers find.
#[derive(Debug, Default)]
struct Found {
    packages: Vec<Package>,
    skipped: Vec<Skipped>,
}

impl Found {
    /// Reads one file of the image, recording it as skipped when it is too large.
    fn read(&mut self, fs: &RootFs, path: &Path, cap: u64) -> Option<String> {
        match fs.read(path, cap) {
            rootfs::Contents::Data(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            rootfs::Contents::Missing => None,
            rootfs::Contents::TooLarge => {
                self.skip(path, format!("larger than {cap} bytes"));
                None
            }
        }
    }

    fn skip(&mut self, path: &Path, reason: String) {
        self.skipped.push(Skipped {
            path: path.display().to_string(),
            reason,
        });
    }
}

/// Parses a `--sbom` value as buildx does: `true`/`false` (`1`/`0`), or `disabled=BOOL`.
/// buildx's `generator=IMAGE` (a scanner image to run) is refused: strata scans by itself.
pub fn parse_flag(value: &str) -> Result<bool> {
    let invalid = |reason: &str| Error::Option {
        flag: "--sbom",
        value: value.to_string(),
        reason: reason.to_string(),
    };
    match value.trim() {
        "" | "true" | "1" => Ok(true),
        "false" | "0" | "disabled=true" | "disabled=1" => Ok(false),
        "disabled=false" | "disabled=0" => Ok(true),
        other if other.starts_with("generator=") => Err(invalid(
            "strata scans the image itself; a generator image is not supported",
        )),
        _ => Err(invalid("expected true or false")),
    }
}

/// Scans the image filesystem in `root` for installed packages.
///
/// Only a `root` that cannot be read is an error; anything inside it that is malformed,
/// oversized or points outside is skipped.
pub fn scan(root: &Path) -> Result<Scan> {
    let meta = std::fs::metadata(root).map_err(|source| Error::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(Error::RootNotDirectory(root.to_path_buf()));
    }
    let fs = RootFs::new(root);
    let mut found = Found::default();
    let distro = osrelease::read(&fs, &mut found);
    dpkg::scan(&fs, distro.as_ref(), &mut found);
    apk::scan(&fs, distro.as_ref(), &mut found);
    walk(&fs, &mut found);
    let mut packages = found.packages;
    packages.sort();
    packages.dedup();
    let mut skipped = found.skipped;
    skipped.sort();
    skipped.dedup();
    Ok(Scan {
        distro,
        packages,
        skipped,
    })
}

/// Directories of the image that hold no packages and, in a root filesystem that was run,
/// could hold kernel files.
const NOT_SCANNED: [&str; 3] = ["proc", "sys", "dev"];

/// One walk over the whole tree (symlinks not followed) for the language ecosystems, whose
/// packages may sit anywhere: `/usr/lib/python3/dist-packages`, `/opt/venv/…/site-packages`,
/// `/app/node_modules`, a Go binary in `/usr/local/bin`.
fn walk(fs: &RootFs, found: &mut Found) {
    let walker = walkdir::WalkDir::new(fs.host_root())
        .follow_links(false)
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() != 1
                || !entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| NOT_SCANNED.contains(&name))
        });
    for entry in walker.filter_map(|entry| entry.ok()) {
        let Some(name) = entry.file_name().to_str() else {
            continue;
        };
        let file_type = entry.file_type();
        let Some(image_path) = fs.image_path(entry.path()) else {
            continue;
        };
        if file_type.is_dir() && name.ends_with(".dist-info") {
            python::read(fs, &image_path.join("METADATA"), found);
        } else if name.ends_with(".egg-info") {
            if file_type.is_dir() {
                python::read(fs, &image_path.join("PKG-INFO"), found);
            } else if file_type.is_file() {
                python::read(fs, &image_path, found);
            }
        } else if file_type.is_file() && name == "package.json" && npm::is_package_root(&image_path)
        {
            npm::read(fs, &image_path, found);
        } else if file_type.is_file() && is_executable_binary(&entry) {
            gobinary::read(entry.path(), &image_path, found);
        }
    }
}

/// An executable regular file large enough to be an ELF binary (the walk found it without
/// following symlinks, so the path is the file itself).
fn is_executable_binary(entry: &walkdir::DirEntry) -> bool {
    use std::os::unix::fs::PermissionsExt;
    entry
        .metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o111 != 0 && m.len() >= 64)
}

/// Keeps a record's optional text field when it says something.
fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests;
