//! Resolving a path inside a root so that symlinks can never lead out of it.
//!
//! Each component is looked up in turn; a symlink is replaced by its target, read as if the
//! root were `/` (an absolute target restarts at the root, `..` stops at the root). This is
//! what BuildKit does for COPY sources and destinations, and what keeps `COPY link /` from
//! reading the host's files through `link -> /etc`. The same walk serves an image's layered
//! filesystem ([`super::LayerStack`]) and, in the builder, a host directory (the build context).

use std::path::PathBuf;

use crate::error::Error;

/// Symlink hops allowed before giving up, as the kernel's ELOOP limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// The walk itself: `read_link(prefix)` answers whether the root-relative `prefix` is a symlink
/// and where it points. Returns the resolved root-relative path (`""` for the root). Generic
/// over the caller's error type, so a caller's own lookup errors pass through unchanged; a
/// loop is [`Error::SymlinkLoop`].
pub fn resolve_scoped<E: From<Error>>(
    rel: &str,
    mut read_link: impl FnMut(&str) -> Result<Option<String>, E>,
) -> Result<String, E> {
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
                }
                .into());
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
