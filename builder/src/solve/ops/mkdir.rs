//! WORKDIR's directory as a step (BuildKit's file op with a `mkdir -p` action): made with the
//! same parent rules as a COPY destination, owned by the USER in effect. Nothing but the
//! definition decides what it makes, so its key adds nothing.

use super::{ExecContext, Op, OpContext};
use crate::copy::{ensure_dir_in_layer, CopyOptions};
use crate::error::{Error, Result};
use crate::users::UserDb;

/// A WORKDIR's `mkdir -p`.
pub(super) struct MkdirOp<'g> {
    /// Absolute path.
    path: &'g str,
    /// The USER in effect, empty for root.
    user: &'g str,
}

impl<'g> MkdirOp<'g> {
    pub(super) fn new(path: &'g str, user: &'g str) -> Self {
        MkdirOp { path, user }
    }
}

impl Op for MkdirOp<'_> {
    fn cache_map(&mut self, _cx: &OpContext<'_>) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }

    fn exec(&mut self, _cx: &OpContext<'_>, exec: &ExecContext<'_>) -> Result<()> {
        let view = exec.view;
        let options = CopyOptions {
            dest: format!("{}/", self.path.trim_end_matches('/')),
            workdir: "/".into(),
            // Owned by the USER as `--chown` would resolve it (a bare uid is also the gid); a
            // user the image does not know leaves it to root, as BuildKit does.
            chown: if self.user.is_empty() {
                None
            } else {
                UserDb::load(|p| view.read_file(p))
                    .resolve_chown(self.user)
                    .ok()
            },
            chmod: None,
            parents: false,
        };
        match view.lookup(&view.resolve(self.path)?)? {
            None => ensure_dir_in_layer(&options, view, exec.upper),
            Some(found) if !found.meta.is_dir() => Err(Error::CopyDestination {
                dest: self.path.to_string(),
                reason: "WORKDIR exists in the image and is not a directory".into(),
            }),
            Some(_) => Ok(()),
        }
    }
}
