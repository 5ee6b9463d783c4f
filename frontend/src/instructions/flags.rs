//! Flag validation for the instruction layer (BuildKit's `BFlags`): every instruction declares
//! which flags it takes and of what kind; anything else is an error, never ignored.

use std::collections::BTreeMap;

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, once.
    String,
    /// `--exclude=a --exclude=b`, repeatable.
    List,
}

/// The parsed flags of one instruction.
#[derive(Debug, Default)]
pub struct Flags {
    strings: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<String>>,
    bools: BTreeMap<String, bool>,
}

impl Flags {
    /// Parses `raw` flags (`--name=value` as the AST keeps them) against `allowed`.
    pub fn parse(
        keyword: &str,
        raw: &[String],
        allowed: &[(&str, FlagKind)],
    ) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for flag in raw {
            let Some(body) = flag.strip_prefix("--") else {
                return Err(format!("invalid flag {flag:?}: flags start with `--`"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some((_, kind)) = allowed.iter().find(|(known, _)| *known == name) else {
                let mut message = format!("unknown flag: --{name}");
                if !allowed.is_empty() {
                    let names: Vec<String> =
                        allowed.iter().map(|(n, _)| format!("--{n}")).collect();
                    message.push_str(&format!(" ({keyword} takes {})", names.join(", ")));
                } else {
                    message.push_str(&format!(" ({keyword} takes no flags)"));
                }
                return Err(message);
            };
            match kind {
                FlagKind::Bool => {
                    let on = match value {
                        None | Some("true") | Some("TRUE") | Some("True") | Some("1") => true,
                        Some("false") | Some("FALSE") | Some("False") | Some("0") => false,
                        Some(other) => {
                            return Err(format!(
                                "expecting boolean value for flag --{name}, not: {other}"
                            ))
                        }
                    };
                    if flags.bools.insert(name.to_string(), on).is_some() {
                        return Err(format!("duplicate flag specified: --{name}"));
                    }
                }
                FlagKind::String => {
                    let Some(value) = value else {
                        return Err(format!("missing a value on flag: --{name}"));
                    };
                    if flags
                        .strings
                        .insert(name.to_string(), value.to_string())
                        .is_some()
                    {
                        return Err(format!("duplicate flag specified: --{name}"));
                    }
                }
                FlagKind::List => {
                    let Some(value) = value else {
                        return Err(format!("missing a value on flag: --{name}"));
                    };
                    flags
                        .lists
                        .entry(name.to_string())
                        .or_default()
                        .push(value.to_string());
                }
            }
        }
        Ok(flags)
    }

    /// A string flag's value.
    pub fn string(&self, name: &str) -> Option<String> {
        self.strings.get(name).cloned()
    }

    /// A repeatable flag's values.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.lists.get(name).cloned().unwrap_or_default()
    }

    /// A boolean flag (false when absent).
    pub fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

/// Parses a Go duration (`30s`, `1m30s`, `1.5h`, `500ms`, `0`) into nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("time: invalid duration {text:?}");
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() || text.starts_with('-') {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go() {
        assert_eq!(parse_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn unknown_duplicate_and_malformed_flags_are_errors() {
        let allowed = [
            ("from", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::List),
        ];
        let raw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = Flags::parse("COPY", &raw(&["--doit=true"]), &allowed).unwrap_err();
        assert_eq!(
            err,
            "unknown flag: --doit (COPY takes --from, --link, --exclude)"
        );
        assert!(Flags::parse("COPY", &raw(&["--from"]), &allowed)
            .unwrap_err()
            .contains("missing a value"));
        assert!(
            Flags::parse("COPY", &raw(&["--from=a", "--from=b"]), &allowed)
                .unwrap_err()
                .contains("duplicate")
        );
        assert!(Flags::parse("COPY", &raw(&["--link=maybe"]), &allowed)
            .unwrap_err()
            .contains("boolean"));
        let ok = Flags::parse(
            "COPY",
            &raw(&["--link", "--exclude=a", "--exclude=b"]),
            &allowed,
        )
        .unwrap();
        assert!(ok.bool("link"));
        assert_eq!(ok.list("exclude"), ["a", "b"]);
    }
}
