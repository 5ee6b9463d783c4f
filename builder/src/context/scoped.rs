//! Resolving a path inside a root directory so that symlinks can never lead out of it.
//!
//! Each component is looked up in turn; a symlink is replaced by its target, read as if the
//! root were `/` (an absolute target restarts at the root, `..` stops at the root). This is
//! what BuildKit does for COPY sources and destinations, and what keeps `COPY link /` from
//! reading the host's files through `link -> /etc`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Symlink hops allowed before giving up, as the kernel's ELOOP limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// Resolves `rel` (components separated by `/`) under `root`, following every symlink inside
/// the root, including one in the final component. Missing components are kept as written.
pub fn resolve_in_root(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut pending: Vec<String> = rel
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .map(str::to_string)
        .rev()
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved
            .iter()
            .chain(std::iter::once(&part))
            .fold(root.to_path_buf(), |path, part| path.join(part));
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::SymlinkLoop { path: candidate });
                }
                let target = fs::read_link(&candidate).map_err(|source| Error::Io {
                    path: candidate.clone(),
                    source,
                })?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|part| !part.is_empty() && *part != ".")
                        .map(str::to_string)
                        .rev(),
                );
            }
            _ => resolved.push(part),
        }
    }
    Ok(resolved
        .iter()
        .fold(root.to_path_buf(), |path, part| path.join(part)))
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
