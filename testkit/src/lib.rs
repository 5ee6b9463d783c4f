//! Test prerequisites shared by every crate's tests (a dev-dependency only).
//!
//! Tests that need root, docker or a tool skip with a printed reason when run by hand, but the
//! test command (`scripts/test`, as CI runs it) sets `STRATA_TEST_REQUIRE`, under which a missing
//! prerequisite fails the test instead: a green CI run must mean every test ran. Keeping the rule
//! in one crate keeps the unit tests of `cache`, `oci` and `builder` and the integration tests
//! from drifting apart (the cache crate's tests once skipped silently under CI).
//!
//! ```
//! if strata_testkit::skip_unless(strata_testkit::is_root(), "needs root (mknod)") {
//!     return;
//! }
//! ```
#![deny(missing_docs)]

/// The variable the test command sets; its value lists what it requires (informational).
pub const REQUIRE_VAR: &str = "STRATA_TEST_REQUIRE";

/// True when the tests run as root (mounts, whiteouts, device nodes and the sandbox need it).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// True under the test command: missing prerequisites are failures, not skips.
pub fn required() -> bool {
    std::env::var_os(REQUIRE_VAR).is_some()
}

/// Says why a test skips, or fails it when [`REQUIRE_VAR`] is set.
pub fn skip(reason: &str) {
    if required() {
        panic!("prerequisite missing under {REQUIRE_VAR}: {reason}");
    }
    eprintln!("skipping: {reason}");
}

/// Skips (see [`skip`]) unless `condition` holds; returns true when the test must return.
pub fn skip_unless(condition: bool, reason: &str) -> bool {
    if !condition {
        skip(reason);
    }
    !condition
}
