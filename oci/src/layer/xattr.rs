//! Extended attributes (listing, reading, writing without following symlinks).

use std::path::Path;

use rustix::fs::XattrFlags;
use rustix::io::Errno;

/// All xattrs of `path` (name, value), sorted by name. A filesystem without xattrs has none.
pub(crate) fn list(path: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let size = match rustix::fs::llistxattr_query(path) {
        Ok(size) => size,
        Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut names = vec![0u8; size];
    let size = rustix::fs::llistxattr(path, &mut names[..])?;
    names.truncate(size);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if let Some(value) = get(path, &name)? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

/// One xattr's value, `None` if absent or if the filesystem has no xattrs.
pub(super) fn get(path: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let size = match rustix::fs::lgetxattr_query(path, name) {
        Ok(size) => size,
        Err(Errno::NODATA | Errno::NOTSUP) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let mut value = vec![0u8; size];
    // An empty buffer would be a size query again; the value is empty then anyway.
    if size > 0 {
        let size = rustix::fs::lgetxattr(path, name, &mut value[..])?;
        value.truncate(size);
    }
    Ok(Some(value))
}

/// Sets an xattr on `path` (not following a final symlink).
pub(crate) fn set(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    Ok(rustix::fs::lsetxattr(
        path,
        name,
        value,
        XattrFlags::empty(),
    )?)
}
