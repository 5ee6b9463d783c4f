//! Opening sled without waiting behind its own busy-waiting threads.
//!
//! sled 0.34 starts its I/O thread pool lazily, inside `open`: the opening thread spawns seven
//! threads, and each one spins on the pool's lazy initialisation (a bare compare-and-swap loop)
//! until the opener has spawned them all. On a two-core CI machine the spinners take both cores
//! and the opener gets a time slice now and then: opening took 2.5 ms or 12 ms depending on
//! luck, a tenth of a no-op rebuild. While the database opens, the opening thread therefore
//! runs at a raised priority that the threads it spawns do not inherit (`SCHED_RESET_ON_FORK`
//! resets a negative nice value in children), so it is never queued behind them. Without the
//! privilege to raise a priority (`CAP_SYS_NICE`) nothing changes and the open is just slower.

use rustix::process::{getpriority_process, setpriority_process};
use rustix::thread::Pid;

/// The opener's nice value while sled starts.
const OPENER_NICE: i32 = -10;

/// Runs `open` with the calling thread's priority raised as described above, then restores it.
pub fn with_opener_priority<T>(open: impl FnOnce() -> T) -> T {
    let raised = Raised::try_new();
    let value = open();
    drop(raised);
    value
}

/// The calling thread's raised priority; dropping it restores the previous one.
struct Raised {
    tid: Pid,
    nice: i32,
}

impl Raised {
    fn try_new() -> Option<Raised> {
        // Linux keeps the nice value per thread: `PRIO_PROCESS` with a thread id sets only it.
        let tid = rustix::thread::gettid();
        if scheduler_policy() != libc::SCHED_OTHER {
            return None;
        }
        let nice = getpriority_process(Some(tid)).ok()?;
        if nice <= OPENER_NICE {
            return None;
        }
        if !set_scheduler_policy(libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK) {
            return None;
        }
        if setpriority_process(Some(tid), OPENER_NICE).is_err() {
            set_scheduler_policy(libc::SCHED_OTHER);
            return None;
        }
        Some(Raised { tid, nice })
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        // Lowering a priority again cannot fail for lack of privilege.
        let _ = setpriority_process(Some(self.tid), self.nice);
        set_scheduler_policy(libc::SCHED_OTHER);
    }
}

// rustix has no sched_getscheduler/sched_setscheduler: these two stay raw libc.

/// The calling thread's scheduling policy.
fn scheduler_policy() -> libc::c_int {
    // SAFETY: takes a plain value and only reads the calling thread's policy.
    unsafe { libc::sched_getscheduler(0) }
}

/// Sets the calling thread's policy (priority 0, as the normal policies need); false if refused.
fn set_scheduler_policy(policy: libc::c_int) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a live `sched_param` for the call's duration; the call only changes
    // the calling thread's scheduling attributes.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[test]
    fn the_opener_is_raised_its_threads_are_not_and_it_is_restored() {
        let before = own_nice();
        let (inside, spawned) = with_opener_priority(|| {
            let inside = own_nice();
            let spawned = std::thread::spawn(own_nice).join().unwrap();
            (inside, spawned)
        });
        assert_eq!(own_nice(), before, "the priority is restored");
        assert_eq!(
            scheduler_policy(),
            libc::SCHED_OTHER,
            "reset-on-fork is cleared again"
        );
        assert!(
            spawned >= 0 || spawned == before,
            "threads spawned meanwhile do not inherit the raise (nice {spawned})"
        );
        if inside == before {
            println!("skipping the raised-priority check: no CAP_SYS_NICE here");
        } else {
            assert_eq!(inside, OPENER_NICE);
        }
    }
}
