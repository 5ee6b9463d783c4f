//! Timestamps as the formats want them: RFC 3339 in UTC, as Go's `time.Time` marshals.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

/// The time a document says it was made: `SOURCE_DATE_EPOCH` (seconds since the epoch) when
/// the build was given one, so that reproducible builds make identical documents; else `now`.
pub fn creation_time(source_date_epoch: Option<i64>, now: SystemTime) -> SystemTime {
    match source_date_epoch {
        Some(secs) if secs >= 0 => UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()),
        Some(secs) => UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
        None => now,
    }
}

/// `2024-01-02T03:04:05Z`: whole seconds, as SPDX's `created` requires.
pub fn rfc3339_seconds(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2024-01-02T03:04:05.123456789Z`: with as many fraction digits as needed (none, 3, 6 or 9),
/// as Go's RFC 3339 nano format that BuildKit's JSON carries.
pub fn rfc3339_nanos(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_wins_over_now() {
        let now = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(
            rfc3339_seconds(creation_time(Some(1_700_000_000), now)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339_seconds(creation_time(None, now)),
            "2033-05-18T03:33:20Z"
        );
    }

    #[test]
    fn nanos_keep_the_fraction_and_drop_it_when_zero() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339_nanos(t), "2023-11-14T22:13:20.120Z");
        let whole = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339_nanos(whole), "2023-11-14T22:13:20Z");
    }
}
