//! strata's OCI formats and distribution.
#![deny(missing_docs)]

pub mod archive;
pub mod cache_exchange;
pub mod commit;
pub mod error;
pub mod image;
pub mod layer;
pub mod registry;
pub mod rootfs;

pub use error::{Error, Result};

/// Says why a test skips; under `STRATA_TEST_REQUIRE` (set by the test command, as in CI) a
/// missing prerequisite fails the test instead, so a green run means every test ran.
#[cfg(test)]
pub(crate) fn skip_test(reason: &str) {
    if std::env::var_os("STRATA_TEST_REQUIRE").is_some() {
        panic!("prerequisite missing under STRATA_TEST_REQUIRE: {reason}");
    }
    eprintln!("skipping: {reason}");
}

/// True when the tests run as root (whiteouts, device nodes and the sandbox need it).
#[cfg(test)]
pub(crate) fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
