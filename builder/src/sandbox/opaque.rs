//! Opaque markers that hide nothing. Overlayfs marks a directory opaque when it is made over a
//! whiteout, and also when a directory made in this step is renamed into a directory the lower
//! layers have (`mkdir x.tmp && mv x.tmp x`, as dpkg unpacks): then nothing is below it to
//! hide, and the marker is noise in the layer (`x/.wh..wh..opq`) that only says how the step
//! made `x`. The chroot isolation mode cannot see how a directory was made, only what it
//! holds; so that both modes write the same layer, the markers that hide no lower directory
//! are dropped from a RUN's upper dir before it becomes a layer.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use strata_oci::MAX_DEPTH;
use strata_oci::{is_opaque, LayerStack, OPAQUE_XATTR, USER_OPAQUE_XATTR};

/// Drops the opaque markers in `upper` whose directory hides no directory of `lowers`.
pub fn drop_redundant_opaque(upper: &Path, lowers: &LayerStack) -> Result<()> {
    walk(upper, "", lowers, 0)
}

fn walk(dir: &Path, rel: &str, lowers: &LayerStack, depth: usize) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(strata_oci::Error::TooDeep {
            path: if rel.is_empty() { "/" } else { rel }.to_string(),
            max: MAX_DEPTH,
        }
        .into());
    }
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let path = entry.path();
        let child = format!("{rel}/{}", entry.file_name().to_string_lossy());
        if is_opaque(&path) {
            let hides = lowers
                .lookup(&child)?
                .is_some_and(|found| found.meta.is_dir());
            if !hides {
                for key in [OPAQUE_XATTR, USER_OPAQUE_XATTR] {
                    remove_xattr(&path, key)?;
                }
            }
            // Below an opaque directory nothing of the lower layers shows: nothing to hide.
            clear_below(&path, depth + 1)?;
            continue;
        }
        walk(&path, &child, lowers, depth + 1)?;
    }
    Ok(())
}

fn clear_below(dir: &Path, depth: usize) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(strata_oci::Error::TooDeep {
            path: dir.display().to_string(),
            max: MAX_DEPTH,
        }
        .into());
    }
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_dir() {
            let path = entry.path();
            for key in [OPAQUE_XATTR, USER_OPAQUE_XATTR] {
                remove_xattr(&path, key)?;
            }
            clear_below(&path, depth + 1)?;
        }
    }
    Ok(())
}

/// Removes `key` from `path` when it is there. Absent is fine, and so is a `trusted.*` key
/// this process may not touch (inside a user namespace only `user.overlay.*` markers exist).
fn remove_xattr(path: &Path, key: &str) -> Result<()> {
    use rustix::io::Errno;
    match rustix::fs::lremovexattr(path, key) {
        Ok(()) | Err(Errno::NODATA) | Err(Errno::NOTSUP) => Ok(()),
        Err(Errno::PERM) if key.starts_with("trusted.") => Ok(()),
        Err(e) => Err(Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}
