//! Resolving a path inside a root so that symlinks can never lead out of it.
//!
//! Each component is looked up in turn; a symlink is replaced by its target, read as if the
//! root were `/` (an absolute target restarts at the root, `..` stops at the root). This is
//! what BuildKit does for COPY sources and destinations, and what keeps `COPY link /` from
//! reading the host's files through `link -> /etc`. The same walk serves a host directory
//! ([`resolve_in_root`]) and an image's layered filesystem (`rootfs::LayerStack`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Symlink hops allowed before giving up, as the kernel's ELOOP limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// Resolves `rel` (components separated by `/`) under `root`, following every symlink inside
/// the root, including one in the final component. Missing components are kept as written.
pub fn resolve_in_root(root: &Path, rel: &str) -> Result<PathBuf> {
    let resolved = resolve_scoped(rel, |prefix| link_target(root, prefix))?;
    Ok(root.join(resolved))
}

/// The target of `prefix` under `root` when it is a symlink (`None` for anything else, or
/// nothing at all).
pub(crate) fn link_target(root: &Path, prefix: &str) -> Result<Option<String>> {
    let candidate = root.join(prefix);
    match fs::symlink_metadata(&candidate) {
        Ok(meta) if meta.file_type().is_symlink() => fs::read_link(&candidate)
            .map(|target| Some(target.to_string_lossy().into_owned()))
            .map_err(|source| Error::Io {
                path: candidate,
                source,
            }),
        _ => Ok(None),
    }
}

/// The walk itself: `read_link(prefix)` answers whether the root-relative `prefix` is a symlink
/// and where it points. Returns the resolved root-relative path (`""` for the root).
pub fn resolve_scoped(
    rel: &str,
    mut read_link: impl FnMut(&str) -> Result<Option<String>>,
) -> Result<String> {
    let split = |path: &str| -> Vec<String> {
        path.split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .map(str::to_string)
            .rev()
            .collect()
    };
    let mut pending = split(rel);
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(part);
        let prefix = resolved.join("/");
        if let Some(target) = read_link(&prefix)? {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(Error::SymlinkLoop {
                    path: PathBuf::from(prefix),
                });
            }
            resolved.pop();
            if target.starts_with('/') {
                resolved.clear();
            }
            pending.extend(split(&target));
        }
    }
    Ok(resolved.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_and_climbing_symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "inside").unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../etc", root.join("climb")).unwrap();
        assert_eq!(
            resolve_in_root(root, "abs/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, "climb/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(root, "../../x").unwrap(), root.join("x"));
    }

    #[test]
    fn relative_symlinks_resolve_against_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("b", root.join("a/link")).unwrap();
        assert_eq!(
            resolve_in_root(root, "a/link/f").unwrap(),
            root.join("a/b/f")
        );
    }

    #[test]
    fn loops_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        symlink("loop", dir.path().join("loop")).unwrap();
        assert!(matches!(
            resolve_in_root(dir.path(), "loop"),
            Err(Error::SymlinkLoop { .. })
        ));
    }
}
