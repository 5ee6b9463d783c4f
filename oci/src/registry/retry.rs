//! Retries with backoff for transient registry failures: 5xx answers, 429, dropped or refused
//! connections, timeouts. Anything else (not found, unauthorized, a digest mismatch) fails at
//! once. How long a registry may keep strata waiting ([`Timeouts`]) bounds each attempt and the
//! whole operation: a registry that accepts connections and never answers fails a pull within
//! a minute, not after 4 attempts of 2 minutes each.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::client::Registry;
use crate::error::{Error, Result};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// The delay before the first retry; doubled each time.
    pub initial_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 200 ms, 400 ms, 800 ms apart.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            ..Default::default()
        }
    }

    /// The delay before retry number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(16);
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// How long a registry may keep strata waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For one attempt: to connect, and for each answer or piece of a body to arrive (a
    /// registry silent for this long is given up on, and the attempt retried).
    pub attempt: Duration,
    /// For one operation (a manifest, a blob, a login check) across all its attempts and the
    /// pauses between them: no attempt starts or keeps waiting after it. A blob download
    /// that is still receiving bytes moves it on (a large layer on a slow link is not cut
    /// off, only a stalled one); an upload gets more time by its size.
    pub total: Duration,
}

impl Default for Timeouts {
    /// 30 s per attempt (docker's dial timeout), 60 s per operation.
    fn default() -> Self {
        Timeouts::per_attempt(Duration::from_secs(30))
    }
}

impl Timeouts {
    /// `attempt` per attempt and twice that per operation: one stalled attempt can be retried
    /// once.
    pub fn per_attempt(attempt: Duration) -> Self {
        Timeouts {
            attempt,
            total: attempt.saturating_mul(2),
        }
    }
}

/// When one operation must be over: `total` after it started, moved on by progress.
#[derive(Debug)]
pub(crate) struct Deadline {
    started: Instant,
    total: Duration,
    at: Cell<Instant>,
}

impl Deadline {
    pub(crate) fn new(total: Duration) -> Deadline {
        let started = Instant::now();
        Deadline {
            started,
            total,
            at: Cell::new(started + total),
        }
    }

    /// The instant it passes.
    pub(crate) fn at(&self) -> Instant {
        self.at.get()
    }

    /// Time left (zero once passed).
    pub(crate) fn remaining(&self) -> Duration {
        self.at.get().saturating_duration_since(Instant::now())
    }

    /// Time since the operation started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The operation made progress: it has `total` again from now.
    pub(crate) fn progress(&self) {
        let next = Instant::now() + self.total;
        if next > self.at.get() {
            self.at.set(next);
        }
    }

    /// Gives the operation `extra` time (an upload, by its size).
    pub(crate) fn extend(&self, extra: Duration) {
        self.at.set(self.at.get() + extra);
    }
}

/// How a retried operation ended in failure.
#[derive(Debug)]
pub(crate) struct GaveUp {
    pub(crate) error: crate::Error,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// Whether the deadline, rather than the attempts, ran out.
    pub(crate) deadline: bool,
}

/// One failed attempt: whether trying again may help.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) transient: bool,
    pub(crate) error: crate::Error,
}

/// Runs `attempt` until it succeeds, fails for good, the policy's attempts are spent or the
/// deadline would pass before the next one; `on_retry` hears about each retry (attempt
/// number, error).
pub(crate) fn retry<T>(
    policy: &RetryPolicy,
    deadline: &Deadline,
    mut attempt: impl FnMut(&Deadline) -> Result<T, Failure>,
    on_retry: &dyn Fn(u32, &crate::Error),
) -> Result<T, GaveUp> {
    let attempts = policy.attempts.max(1);
    let mut n = 1;
    loop {
        match attempt(deadline) {
            Ok(value) => return Ok(value),
            Err(Failure { transient, error }) => {
                if !transient || n >= attempts {
                    return Err(GaveUp {
                        error,
                        attempts: n,
                        deadline: false,
                    });
                }
                if deadline.remaining() <= policy.delay(n) {
                    return Err(GaveUp {
                        error,
                        attempts: n,
                        deadline: true,
                    });
                }
                on_retry(n, &error);
                std::thread::sleep(policy.delay(n));
                n += 1;
            }
        }
    }
}

impl Registry {
    /// Runs one operation with retries, within the operation's deadline; the final error says
    /// how many attempts were made, and that it timed out when the deadline ran out.
    pub(super) fn with_retry<T>(
        &self,
        registry: &str,
        attempt: impl FnMut(&Deadline) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        self.with_retry_within(registry, &Deadline::new(self.timeouts.total), attempt)
    }

    /// [`Registry::with_retry`] with a deadline of the caller's.
    pub(super) fn with_retry_within<T>(
        &self,
        registry: &str,
        deadline: &Deadline,
        attempt: impl FnMut(&Deadline) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let notify = |n: u32, error: &Error| {
            if let Some(notify) = &self.notify {
                notify(&format!(
                    "{error}; retrying in {:?} (attempt {} of {})",
                    self.retry.delay(n),
                    n + 1,
                    self.retry.attempts
                ));
            }
        };
        let gave_up = |GaveUp {
                           error,
                           attempts,
                           deadline: ran_out,
                       }| {
            let Error::Registry { kind, reason } = error else {
                return error;
            };
            let reason = if ran_out {
                // The deadline, not the count of attempts, ended it: say it timed out.
                let timed_out = if reason.contains("timed out") {
                    String::new()
                } else {
                    format!("registry {registry} timed out; ")
                };
                format!(
                    "{reason} ({timed_out}gave up after {attempts} attempt{} in {:.1}s)",
                    if attempts == 1 { "" } else { "s" },
                    deadline.elapsed().as_secs_f64()
                )
            } else if attempts > 1 {
                format!("{reason} (after {attempts} attempts)")
            } else {
                reason
            };
            Error::Registry { kind, reason }
        };
        retry(&self.retry, deadline, attempt, &notify).map_err(gave_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_millis(200));
        assert_eq!(p.delay(3), Duration::from_millis(800));
        assert_eq!(p.delay(10), Duration::from_secs(2));
    }

    #[test]
    fn transient_failures_are_retried_and_others_are_not() {
        let p = RetryPolicy {
            attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        };
        let forever = Deadline::new(Duration::from_secs(3600));
        let mut calls = 0;
        let r = retry(
            &p,
            &forever,
            |_| {
                calls += 1;
                if calls < 3 {
                    Err(Failure {
                        transient: true,
                        error: crate::Error::Image { reason: "x".into() },
                    })
                } else {
                    Ok(calls)
                }
            },
            &|_, _| {},
        );
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: Result<(), _> = retry(
            &p,
            &forever,
            |_| {
                calls += 1;
                Err(Failure {
                    transient: false,
                    error: crate::Error::Image { reason: "x".into() },
                })
            },
            &|_, _| {},
        );
        assert_eq!(r.unwrap_err().attempts, 1);
        assert_eq!(calls, 1);
    }

    #[test]
    fn no_retry_starts_after_the_deadline() {
        let p = RetryPolicy {
            attempts: 10,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        };
        let deadline = Deadline::new(Duration::from_millis(50));
        let mut calls = 0;
        let r: Result<(), _> = retry(
            &p,
            &deadline,
            |_| {
                calls += 1;
                std::thread::sleep(Duration::from_millis(30));
                Err(Failure {
                    transient: true,
                    error: crate::Error::Image { reason: "x".into() },
                })
            },
            &|_, _| {},
        );
        let gave_up = r.unwrap_err();
        assert!(gave_up.deadline);
        assert_eq!(gave_up.attempts, 2);
        assert_eq!(calls, 2);
    }

    #[test]
    fn progress_moves_the_deadline_on() {
        let deadline = Deadline::new(Duration::from_millis(20));
        let first = deadline.at();
        std::thread::sleep(Duration::from_millis(5));
        deadline.progress();
        assert!(deadline.at() > first);
        deadline.extend(Duration::from_secs(10));
        assert!(deadline.remaining() > Duration::from_secs(9));
    }
}
