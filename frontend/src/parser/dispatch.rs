//! Per-instruction argument parsing of the AST layer (BuildKit's `dispatch` table): which
//! instructions take JSON or shell form, words, key/value pairs, or a nested instruction.
//! Nothing is validated here beyond what BuildKit's parser itself rejects.

use super::words::{extract_flags, split_blank, split_keyword, split_words_keeping_quotes};
use crate::ast::{Args, Node};

/// What the argument parser of one instruction produced.
pub struct Parsed {
    pub args: Args,
    pub json: bool,
}

/// Why an instruction's arguments are unparseable at the AST layer.
pub type ArgError = String;

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Parses one logical line (continuations joined) into a node; lines are filled in by the caller.
pub fn node_from_line(line: &str, escape: char) -> Result<Node, ArgError> {
    let (keyword, rest) = split_keyword(line);
    let (flags, rest) = if rest.is_empty() {
        (Vec::new(), String::new())
    } else {
        extract_flags(rest)
    };
    let rest = rest.trim();
    let keyword = keyword.to_lowercase();
    let parsed = match keyword.as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(rest)?,
        "arg" => words(split_words_keeping_quotes(rest, escape)),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest)?,
        "env" => name_values(rest, "ENV", escape)?,
        "label" => name_values(rest, "LABEL", escape)?,
        "expose" | "from" => words(if rest.is_empty() {
            Vec::new()
        } else {
            split_blank(rest)
        }),
        "healthcheck" => health(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => words(if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest.to_string()]
        }),
        "onbuild" => {
            if rest.is_empty() {
                words(Vec::new())
            } else {
                let child = node_from_line(rest, escape)?;
                Parsed {
                    args: Args::Nested(Box::new(child)),
                    json: false,
                }
            }
        }
        // Unknown instructions pass the AST layer; the instruction layer names them.
        _ => words(vec![String::new()]),
    };
    Ok(Node {
        keyword,
        flags,
        args: parsed.args,
        json: parsed.json,
        original: line.to_string(),
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
    })
}

fn words(list: Vec<String>) -> Parsed {
    Parsed {
        args: Args::Words(list),
        json: false,
    }
}

/// Parses `rest` as a JSON array of strings. `Ok(None)` means "not JSON" (use the shell form);
/// an array with non-strings is an error, as in BuildKit.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, ArgError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(rest) else {
        return Ok(None);
    };
    let Some(items) = value.as_array() else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| NOT_STRING_ARRAY.to_string())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn maybe_json(rest: &str) -> Result<Parsed, ArgError> {
    if rest.is_empty() {
        return Ok(words(Vec::new()));
    }
    Ok(match json_array(rest)? {
        Some(list) => Parsed {
            args: Args::Words(list),
            json: true,
        },
        None => words(vec![rest.to_string()]),
    })
}

fn maybe_json_to_list(rest: &str) -> Result<Parsed, ArgError> {
    Ok(match json_array(rest)? {
        Some(list) => Parsed {
            args: Args::Words(list),
            json: true,
        },
        None if rest.is_empty() => words(Vec::new()),
        None => words(split_blank(rest)),
    })
}

/// `ENV`/`LABEL`: the old `key value` form (the first word has no `=`) or `k=v` pairs; each
/// pair becomes key, value, separator.
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Parsed, ArgError> {
    let list = split_words_keeping_quotes(rest, escape);
    if list.is_empty() {
        return Ok(words(Vec::new()));
    }
    if !list[0].contains('=') {
        // Old form: everything after the first run of blanks is the value.
        let (key, value) = split_keyword(rest);
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        return Ok(words(vec![
            key.to_string(),
            value.to_string(),
            String::new(),
        ]));
    }
    let mut out = Vec::new();
    for word in list {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.extend([key.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(words(out))
}

/// `HEALTHCHECK [type] [cmd…]`: the first word, then the rest in JSON or shell form.
fn health(rest: &str) -> Result<Parsed, ArgError> {
    if rest.is_empty() {
        return Ok(words(Vec::new()));
    }
    let (kind, cmd) = match rest.find(char::is_whitespace) {
        Some(at) => (&rest[..at], rest[at..].trim_start()),
        None => (rest, ""),
    };
    let inner = maybe_json(cmd)?;
    let mut list = vec![kind.to_string()];
    list.extend(inner.args.words().iter().cloned());
    Ok(Parsed {
        args: Args::Words(list),
        json: inner.json,
    })
}
