//! strata's content-addressed store: blobs, snapshots and the sled index.
#![deny(missing_docs)]
