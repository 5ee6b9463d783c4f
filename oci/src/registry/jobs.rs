//! Transfers in flight at once. Network transfers want more of them than cores (rayon's pool
//! has one thread per core), and a pull or push should start nothing new once one has failed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::Result;

/// How many transfers run at once unless the caller says otherwise.
pub(super) const DEFAULT_PARALLEL: usize = 3;

/// `requested`, or [`DEFAULT_PARALLEL`] for 0.
pub(super) fn parallelism(requested: usize) -> usize {
    if requested == 0 {
        DEFAULT_PARALLEL
    } else {
        requested
    }
}

/// Runs `job` on every item with up to `threads` threads. Once a job fails no new one starts;
/// the ones already running finish. Returns each item's result in item order, `None` for the
/// items never started.
pub(super) fn run<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    job: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Option<Result<R>>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R>>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else {
                    break;
                };
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let result = job(item);
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(result);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// The first error among `results`, if any.
pub(super) fn first_error<R>(results: Vec<Option<Result<R>>>) -> Result<()> {
    match results.into_iter().flatten().find_map(|r| r.err()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn every_item_runs_in_order_and_a_failure_stops_new_ones() {
        let items: Vec<u32> = (0..20).collect();
        let results = run(&items, 3, |n| Ok(n * 2));
        let doubled: Vec<u32> = results.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());

        let results = run(&items, 1, |n| {
            if *n == 3 {
                Err(Error::Image {
                    reason: "broken".into(),
                })
            } else {
                Ok(())
            }
        });
        assert!(results[..3].iter().all(|r| matches!(r, Some(Ok(())))));
        assert!(matches!(results[3], Some(Err(_))));
        assert!(results[4..].iter().all(Option::is_none));
        assert!(first_error(results).is_err());
    }
}
