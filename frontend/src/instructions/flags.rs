//! Flag validation for the instruction layer (BuildKit's `BFlags`): every instruction declares
//! which flags it takes and of what kind; anything else is an error, never ignored.

use std::collections::BTreeMap;

use super::Invalid;
use crate::error::ErrorKind;

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link`, `--link=true|false` (any case), once.
    Bool,
    /// `--from=x`, once; the value may be empty but the `=` is required.
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
    ) -> Result<Flags, Invalid> {
        let mut flags = Flags::default();
        for flag in raw {
            let Some(body) = flag.strip_prefix("--") else {
                return Err(Invalid::argument(
                    format!("invalid flag {flag:?}: flags start with `--`"),
                    super::Spot::First(flag.clone()),
                ));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(_, kind)) = allowed.iter().find(|(known, _)| *known == name) else {
                return Err(unknown(keyword, name, allowed));
            };
            let seen = flags.bools.contains_key(name) || flags.strings.contains_key(name);
            if seen {
                return Err(Invalid::new(
                    ErrorKind::Flag,
                    format!("duplicate flag specified: --{name}"),
                    super::Spot::Last(format!("--{name}")),
                ));
            }
            let missing = || Invalid::flag(name, format!("missing a value on flag: --{name}"));
            match kind {
                FlagKind::Bool => {
                    let on = match value.map(str::to_ascii_lowercase).as_deref() {
                        None => true,
                        Some("") => return Err(missing()),
                        Some("true") => true,
                        Some("false") => false,
                        Some(_) => {
                            return Err(Invalid::flag(
                                name,
                                format!(
                                    "expecting boolean value for flag --{name}, not: {}",
                                    value.unwrap_or_default()
                                ),
                            ))
                        }
                    };
                    flags.bools.insert(name.to_string(), on);
                }
                FlagKind::String => {
                    let value = value.ok_or_else(missing)?;
                    flags.strings.insert(name.to_string(), value.to_string());
                }
                FlagKind::List => {
                    let value = value.ok_or_else(missing)?;
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

    /// A repeatable flag's values, in order.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.lists.get(name).cloned().unwrap_or_default()
    }

    /// A boolean flag (false when absent).
    pub fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

fn unknown(keyword: &str, name: &str, allowed: &[(&str, FlagKind)]) -> Invalid {
    let mut message = format!("unknown flag: --{name}");
    if allowed.is_empty() {
        message.push_str(&format!(" ({keyword} takes no flags)"));
    } else {
        let names: Vec<String> = allowed.iter().map(|(n, _)| format!("--{n}")).collect();
        message.push_str(&format!(" ({keyword} takes {})", names.join(", ")));
    }
    let invalid = Invalid::flag(name, message);
    let nearest = allowed
        .iter()
        .map(|(known, _)| (super::suggest::distance(name, known), *known))
        .filter(|(distance, _)| *distance <= (name.chars().count() / 3).max(1))
        .min();
    match nearest {
        Some((_, known)) => invalid.with_hint(format!("did you mean `--{known}`?")),
        None => invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[&str]) -> Result<Flags, String> {
        let allowed = [
            ("from", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::List),
        ];
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        Flags::parse("COPY", &raw, &allowed).map_err(|e| e.message)
    }

    #[test]
    fn unknown_duplicate_and_malformed_flags_are_errors() {
        assert_eq!(
            parse(&["--doit=true"]).unwrap_err(),
            "unknown flag: --doit (COPY takes --from, --link, --exclude)"
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            "missing a value on flag: --from"
        );
        assert_eq!(
            parse(&["--link="]).unwrap_err(),
            "missing a value on flag: --link"
        );
        assert!(parse(&["--from=a", "--from=b"])
            .unwrap_err()
            .starts_with("duplicate flag"));
        assert!(parse(&["--link", "--link=false"])
            .unwrap_err()
            .starts_with("duplicate flag"));
        assert_eq!(
            parse(&["--link=1"]).unwrap_err(),
            "expecting boolean value for flag --link, not: 1"
        );
    }

    #[test]
    fn values_bools_and_lists() {
        let ok = parse(&["--link=TRUE", "--exclude=a", "--exclude=b", "--from="]).unwrap();
        assert!(ok.bool("link"));
        assert_eq!(ok.list("exclude"), ["a", "b"]);
        assert_eq!(ok.string("from").as_deref(), Some(""));
        assert!(!parse(&["--link=False"]).unwrap().bool("link"));
    }

    #[test]
    fn a_near_miss_gets_a_hint() {
        let allowed = [("exclude", FlagKind::List)];
        let err = Flags::parse("COPY", &["--exlude=x".to_string()], &allowed).unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `--exclude`?"));
    }
}
