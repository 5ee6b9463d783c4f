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

/// The opener's nice value while sled starts.
const OPENER_NICE: libc::c_int = -10;

/// Runs `open` with the calling thread's priority raised as described above, then restores it.
pub fn with_opener_priority<T>(open: impl FnOnce() -> T) -> T {
    let raised = Raised::try_new();
    let value = open();
    drop(raised);
    value
}

/// The calling thread's raised priority; dropping it restores the previous one.
struct Raised {
    tid: libc::id_t,
    nice: libc::c_int,
}

impl Raised {
    fn try_new() -> Option<Raised> {
        // SAFETY: these calls take plain values and a pointer to a live `sched_param`; they
        // only change the calling thread's scheduling attributes.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            if libc::sched_getscheduler(0) != libc::SCHED_OTHER {
                return None;
            }
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, tid);
            if *libc::__errno_location() != 0 || nice <= OPENER_NICE {
                return None;
            }
            let param = libc::sched_param { sched_priority: 0 };
            let policy = libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK;
            if libc::sched_setscheduler(0, policy, &param) != 0 {
                return None;
            }
            if libc::setpriority(libc::PRIO_PROCESS, tid, OPENER_NICE) != 0 {
                libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
                return None;
            }
            Some(Raised { tid, nice })
        }
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: as in `try_new`; lowering a priority again cannot fail for lack of privilege.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, self.tid, self.nice);
            libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_nice() -> libc::c_int {
        // SAFETY: reads the calling thread's nice value.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
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
        // SAFETY: reads the calling thread's policy.
        let policy = unsafe { libc::sched_getscheduler(0) };
        assert_eq!(policy, libc::SCHED_OTHER, "reset-on-fork is cleared again");
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
