//! Numbers, sizes, durations and times as docker prints them (go-units and Go's `time`).
//! One implementation of each: the listings, `inspect`, `du` and `prune` all use these.

/// A size as docker prints its totals (`docker system df`, `builder prune`: go-units
/// `HumanSize`, base 1000, four significant digits: `1.235MB`). Listings use three digits
/// through [`human_size_with_precision`].
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes, 4)
}

/// go-units `HumanSizeWithPrecision`: base 1000 units with `precision` significant digits in
/// Go's `%g` style. docker's listings use 3 (`images`), its totals and `system df` use 4
/// (`HumanSize`).
pub fn human_size_with_precision(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_g(value, precision.max(1)), UNITS[unit])
}

/// Go's `%.{precision}g`.
fn go_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let scientific = format!("{value:.*e}", precision - 1);
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("exponent");
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..precision as i32).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim(&format!("{value:.decimals$}"))
}

/// go-units `HumanDuration` (what docker shows before " ago").
pub fn human_duration(secs: i64) -> String {
    let hours_rounded = (secs as f64 / 3600.0 + 0.5) as i64;
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s / 60 == 1 => "About a minute".into(),
        s if s / 60 < 60 => format!("{} minutes", s / 60),
        _ if hours_rounded == 1 => "About an hour".into(),
        _ if hours_rounded < 48 => format!("{hours_rounded} hours"),
        _ if hours_rounded < 24 * 7 * 2 => format!("{} days", hours_rounded / 24),
        _ if hours_rounded < 24 * 30 * 2 => format!("{} weeks", hours_rounded / 24 / 7),
        _ if hours_rounded < 24 * 365 * 2 => format!("{} months", hours_rounded / 24 / 30),
        s => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// Go's `time.Time.String()` in UTC: `2026-11-24 10:45:55 +0000 UTC`.
pub fn go_time(secs: i64) -> String {
    strata_oci::image::config::rfc3339(secs)
        .replace('T', " ")
        .replace('Z', " +0000 UTC")
}

/// Parses RFC 3339 (`2026-11-24T10:45:55.123Z`, `…+01:00`) into unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, ""),
    };
    let mut c = clock.splitn(3, ':');
    let hour: i64 = c.next()?.parse().ok()?;
    let minute: i64 = c.next()?.parse().ok()?;
    let second: i64 = c.next()?.split('.').next()?.parse().ok()?;
    let offset_secs = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (h, m) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86400 + hour * 3600 + minute * 60 + second - offset_secs)
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        text.to_string()
    } else if max <= 3 {
        chars[..max].iter().collect()
    } else {
        chars[..max - 1].iter().collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_print_like_docker() {
        // docker's listings (`images`, `history`: three digits).
        let listing = |bytes| human_size_with_precision(bytes, 3);
        assert_eq!(listing(0), "0B");
        assert_eq!(listing(999), "999B");
        assert_eq!(listing(1000), "1kB");
        assert_eq!(listing(4_261_000), "4.26MB");
        assert_eq!(listing(123_456), "123kB");
        assert_eq!(listing(1_500_000_000), "1.5GB");
        assert_eq!(listing(999_600), "1e+03kB");
        // docker's totals (`HumanSize`, four digits).
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(123_456), "123.5kB");
        assert_eq!(human_size(2_000_000_000), "2GB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(30), "30 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(100 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }

    #[test]
    fn rfc3339_parses_back() {
        for secs in [0, 1_795_000_000, 951_782_400 /* 2000-02-29 */] {
            assert_eq!(
                parse_rfc3339(&strata_oci::image::config::rfc3339(secs)),
                Some(secs)
            );
        }
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00.5+01:00"), Some(0));
        assert_eq!(parse_rfc3339("nonsense"), None);
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
