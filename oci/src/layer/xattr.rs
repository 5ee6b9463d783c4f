//! Extended attributes (listing, reading, writing without following symlinks).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
}

/// All xattrs of `path` (name, value), sorted by name.
pub(super) fn list(path: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let c = cpath(path)?;
    // SAFETY: a NUL-terminated path; a null buffer asks for the size.
    let size = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(Vec::new()),
            _ => Err(err),
        };
    }
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut names = vec![0u8; size as usize];
    // SAFETY: the buffer has the length we pass.
    let size = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if size < 0 {
        return Err(std::io::Error::last_os_error());
    }
    names.truncate(size as usize);
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

/// One xattr's value, `None` if absent.
pub(super) fn get(path: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let c = cpath(path)?;
    let n = CString::new(name).map_err(|_| std::io::Error::other("NUL in xattr name"))?;
    // SAFETY: NUL-terminated strings; a null buffer asks for the size.
    let size = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(None),
            _ => Err(err),
        };
    }
    let mut value = vec![0u8; size as usize];
    // SAFETY: the buffer has the length we pass.
    let size = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    if size < 0 {
        return Err(std::io::Error::last_os_error());
    }
    value.truncate(size as usize);
    Ok(Some(value))
}

/// Sets an xattr on `path` (not following a final symlink).
pub(super) fn set(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let c = cpath(path)?;
    let n = CString::new(name).map_err(|_| std::io::Error::other("NUL in xattr name"))?;
    // SAFETY: NUL-terminated strings and a value buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
