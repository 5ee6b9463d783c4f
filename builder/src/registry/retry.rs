//! Retries with backoff for transient registry failures: 5xx answers, 429, dropped or refused
//! connections, timeouts. Anything else (not found, unauthorized, a digest mismatch) fails at
//! once.

use std::time::Duration;

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

/// One failed attempt: whether trying again may help.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) transient: bool,
    pub(crate) error: crate::Error,
}

/// Runs `attempt` until it succeeds, fails for good, or the policy's attempts are spent;
/// `on_retry` hears about each retry (attempt number, error).
pub(crate) fn retry<T>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut() -> Result<T, Failure>,
    on_retry: &dyn Fn(u32, &crate::Error),
) -> Result<T, (crate::Error, u32)> {
    let attempts = policy.attempts.max(1);
    let mut n = 1;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(Failure { transient, error }) => {
                if !transient || n >= attempts {
                    return Err((error, n));
                }
                on_retry(n, &error);
                std::thread::sleep(policy.delay(n));
                n += 1;
            }
        }
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
        let mut calls = 0;
        let r = retry(
            &p,
            || {
                calls += 1;
                if calls < 3 {
                    Err(Failure {
                        transient: true,
                        error: crate::Error::Unsupported { what: "x".into() },
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
            || {
                calls += 1;
                Err(Failure {
                    transient: false,
                    error: crate::Error::Unsupported { what: "x".into() },
                })
            },
            &|_, _| {},
        );
        assert_eq!(r.unwrap_err().1, 1);
        assert_eq!(calls, 1);
    }
}
