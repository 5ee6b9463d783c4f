//! The store under stress, with real processes: several contending for the lock, processes
//! killed with SIGKILL in the middle of writes and of GC, a disk that fills up, and a store
//! deleted by a user who is not root.
//!
//! Child processes are this test binary itself, re-run with `STRATA_CACHE_CHILD` set to a
//! role: the child branch at the top of each test does the child's part and exits.

mod helpers;

mod crash_tests;
mod full_tests;
mod lock_tests;
mod permission_tests;
