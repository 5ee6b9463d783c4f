//! Rootless mode: a user who is not root builds in a user namespace of their own, where they
//! are root and their subordinate ids (`/etc/subuid`, `/etc/subgid`) are the other users.
//!
//! strata enters that namespace once, at the start of a command (`enter`), and everything
//! after runs as its root: the store is read and written there, RUN steps get the ordinary
//! sandbox (its overlays mounted with `userxattr`, see `prepare.rs`), and layers record the
//! ids as seen inside (0, 100, 1000…), never the host's subordinate ids, so the same build
//! gives the same image as root mode.

mod enter;
mod subid;

pub use enter::{enter, IdMapping, IdMaps};
pub use subid::{ranges_for, read_ranges, user_name, SubidRange, SUBGID_FILE, SUBUID_FILE};
