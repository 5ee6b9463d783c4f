//! The text BuildKit records in an image's history (`created_by`) and shows as step names.
//! BuildKit builds these strings with Go's `fmt`, so lists and durations are printed the Go
//! way here: `CMD ["sh" "-c" "x"]` (`%q`), `SHELL [/bin/sh -c]` (`%v`), `30s`, `1m30s`.

use crate::config::HealthConfig;
use crate::dump::go_quote;

/// Go's `%q` of a `[]string`: `["a" "b c"]`.
pub fn quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| go_quote(i)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn plain(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `time.Duration.String()` for a non-negative number of nanoseconds.
pub fn go_duration(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, digits) = match nanos {
            n if n < 1_000 => ("ns", 0),
            n if n < 1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let scale = 10u64.pow(digits);
        return format!("{}{}{unit}", nanos / scale, fraction(nanos % scale, digits));
    }
    let seconds = nanos / 1_000_000_000;
    let frac = fraction(nanos % 1_000_000_000, 9);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}{frac}s"),
        (0, _) => format!("{m}m{s}{frac}s"),
        _ => format!("{h}h{m}m{s}{frac}s"),
    }
}

/// `.5` for 500 of 3 digits; empty when zero (Go omits the point too).
fn fraction(value: u64, digits: u32) -> String {
    if value == 0 {
        return String::new();
    }
    let text = format!("{value:0width$}", width = digits as usize);
    format!(".{}", text.trim_end_matches('0'))
}

/// `HEALTHCHECK {Test:[CMD-SHELL curl -f http://x/] Interval:30s Timeout:0s …}`: Go's `%+v`
/// of docker's `HealthcheckConfig`.
pub fn healthcheck(config: &HealthConfig) -> String {
    format!(
        "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        plain(&config.test),
        go_duration(config.interval),
        go_duration(config.timeout),
        go_duration(config.start_period),
        go_duration(config.start_interval),
        config.retries
    )
}

/// BuildKit's `runCommandString`: `|2 A=1 B= /bin/sh -c make`. Every ARG the stage declared
/// is listed once (its last value; the build environment's value when it has one, so an ENV of
/// the same name shows), then the command.
pub fn run_command(
    argv: &[String],
    build_args: &[(String, Option<String>)],
    env: &[(String, String)],
) -> String {
    let mut listed: Vec<(String, String)> = Vec::new();
    for (name, value) in build_args {
        let value = env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| value.clone().unwrap_or_default());
        match listed.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => entry.1 = value,
            None => listed.push((name.clone(), value)),
        }
    }
    let mut parts = Vec::new();
    if !listed.is_empty() {
        parts.push(format!("|{}", listed.len()));
        parts.extend(listed.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(argv.iter().cloned());
    parts.join(" ")
}

/// BuildKit's `uppercaseCmd`: the first word upper-cased.
pub fn uppercase_keyword(text: &str) -> String {
    match text.split_once(' ') {
        Some((keyword, rest)) => format!("{} {rest}", keyword.to_uppercase()),
        None => text.to_uppercase(),
    }
}

/// The first line of a heredoc, with `...` when there are more (`summarizeHeredoc`).
pub fn summarize_heredoc(body: &str) -> String {
    let body = body.trim();
    let normalized = body.replace("\r\n", "\n");
    let mut lines = normalized.split('\n');
    let first = lines.next().unwrap_or_default().to_string();
    if lines.next().is_some() {
        format!("{first}...")
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn lists_print_like_go() {
        assert_eq!(
            quoted(&s(&["/bin/sh", "-c", "echo \"hi\""])),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
        assert_eq!(plain(&s(&["/bin/bash", "-c"])), "[/bin/bash -c]");
        assert_eq!(quoted(&[]), "[]");
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(3_723_250_000_000), "1h2m3.25s");
    }

    #[test]
    fn healthcheck_prints_the_struct() {
        let config = HealthConfig {
            test: s(&["CMD-SHELL", "curl -f http://localhost/"]),
            interval: 30_000_000_000,
            timeout: 3_000_000_000,
            retries: 3,
            ..HealthConfig::default()
        };
        assert_eq!(
            healthcheck(&config),
            "HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:30s Timeout:3s StartPeriod:0s StartInterval:0s Retries:3}"
        );
    }

    #[test]
    fn run_history_lists_build_args_once() {
        let args = vec![
            ("A".to_string(), Some("1".to_string())),
            ("B".to_string(), None),
            ("A".to_string(), Some("2".to_string())),
            ("C".to_string(), Some("arg".to_string())),
        ];
        let env = vec![
            ("A".to_string(), "2".to_string()),
            ("C".to_string(), "env".to_string()),
        ];
        assert_eq!(
            run_command(&s(&["/bin/sh", "-c", "make"]), &args, &env),
            "|3 A=2 B= C=env /bin/sh -c make"
        );
        assert_eq!(run_command(&s(&["ls"]), &[], &env), "ls");
    }

    #[test]
    fn names_and_summaries() {
        assert_eq!(uppercase_keyword("run echo hi"), "RUN echo hi");
        assert_eq!(uppercase_keyword("workdir"), "WORKDIR");
        assert_eq!(summarize_heredoc("\n  echo one\necho two\n"), "echo one...");
        assert_eq!(summarize_heredoc("echo one\n"), "echo one");
    }
}
