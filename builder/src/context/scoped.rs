//! Resolving a path inside a root so that symlinks can never lead out of it.
//!
//! Each component is looked up in turn; a symlink is replaced by its target, read as if the
//! root were `/` (an absolute target restarts at the root, `..` stops at the root). This is
//! what BuildKit does for COPY sources and destinations, and what keeps `COPY link /` from
//! reading the host's files through `link -> /etc`. The same walk serves a host directory
//! ([`resolve_in_root`]) and an image's layered filesystem (`strata_oci::LayerStack`); the
//! walk itself is `strata_oci::resolve_scoped`.

use std::fs;
use std::path::{Path, PathBuf};

use strata_oci::resolve_scoped;

use crate::error::{Error, Result};

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
            Err(Error::Oci(strata_oci::Error::SymlinkLoop { .. }))
        ));
    }
}
