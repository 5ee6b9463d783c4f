//! Per-instruction argument parsing of the AST layer (BuildKit's dispatch table): which
//! instructions take JSON or shell form, plain words, key/value pairs, or a nested instruction.
//! Nothing is validated here beyond what BuildKit's parser itself rejects; unknown instructions
//! pass (the instruction layer names them).

use super::words::{extract_flags, split_blank, split_keyword, split_words_keeping_quotes};
use crate::ast::{Args, Node, Segment};
use crate::error::ErrorKind;

/// Why a line cannot be an instruction, with the word to point at.
#[derive(Debug)]
pub struct LineError {
    pub kind: ErrorKind,
    pub message: String,
    /// Text of the line the caret should go under, if any.
    pub needle: Option<String>,
}

impl LineError {
    fn new(kind: ErrorKind, message: String, needle: Option<&str>) -> Self {
        LineError {
            kind,
            message,
            needle: needle.map(str::to_string),
        }
    }
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Parses one logical line (continuations joined, indentation removed); `segments` map it back
/// to the file. Lines are filled in from the segments.
pub fn node_from_line(line: &str, segments: &[Segment], escape: char) -> Result<Node, LineError> {
    let (keyword, rest) = split_keyword(line);
    let rest_at = offset_in(line, rest);
    let (flags, args) = if rest.is_empty() {
        (Vec::new(), String::new())
    } else {
        extract_flags(rest)
    };
    let args_text = args.trim();
    let keyword = keyword.to_lowercase();
    let (args, json) = match keyword.as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(args_text)?,
        "arg" => (split_words_keeping_quotes(args_text, escape), false),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(args_text)?,
        "env" => (name_values(args_text, "ENV", escape)?, false),
        "label" => (name_values(args_text, "LABEL", escape)?, false),
        "expose" | "from" => (blank_separated(args_text), false),
        "healthcheck" => health(args_text)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => (
            non_empty(args_text)
                .map(str::to_string)
                .into_iter()
                .collect(),
            false,
        ),
        "onbuild" if !rest.is_empty() => {
            // The nested instruction is parsed whole, flags included, from ONBUILD's rest.
            let child = node_from_line(rest, &shift(segments, line, rest_at), escape)?;
            return Ok(finish(
                keyword,
                Vec::new(),
                Args::Nested(Box::new(child)),
                false,
                line,
                segments,
            ));
        }
        "onbuild" => (Vec::new(), false),
        // BuildKit's parseIgnore: one empty argument.
        _ => (vec![String::new()], false),
    };
    Ok(finish(
        keyword,
        flags,
        Args::Words(args),
        json,
        line,
        segments,
    ))
}

fn finish(
    keyword: String,
    flags: Vec<String>,
    args: Args,
    json: bool,
    line: &str,
    segments: &[Segment],
) -> Node {
    let first = segments.first();
    Node {
        keyword,
        flags,
        args,
        json,
        original: line.to_string(),
        heredocs: Vec::new(),
        start_line: first.map_or(0, |s| s.line),
        end_line: segments.last().map_or(0, |s| s.line),
        column: first.map_or(1, |s| s.column),
        segments: segments.to_vec(),
    }
}

/// Byte offset of `part` (a subslice of `whole`) in `whole`.
fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize)
        .checked_sub(whole.as_ptr() as usize)
        .filter(|&at| at <= whole.len())
        .unwrap_or(whole.len())
}

/// The segments of `line[offset..]`, for a nested instruction.
fn shift(segments: &[Segment], line: &str, offset: usize) -> Vec<Segment> {
    let mut out = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let end = segments.get(i + 1).map_or(line.len(), |s| s.offset);
        if end <= offset {
            continue;
        }
        if segment.offset >= offset {
            out.push(Segment {
                offset: segment.offset - offset,
                ..*segment
            });
        } else {
            let skipped = line.get(segment.offset..offset).unwrap_or_default();
            out.push(Segment {
                offset: 0,
                line: segment.line,
                column: segment.column + skipped.chars().count(),
            });
        }
    }
    out
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

fn blank_separated(text: &str) -> Vec<String> {
    non_empty(text).map(split_blank).unwrap_or_default()
}

/// Parses `rest` as a JSON array of strings. `Ok(None)` means "not JSON" (use the shell form):
/// anything `json.Unmarshal` rejects, trailing text included (BuildKit since 2024). An array
/// with non-strings is an error, as in BuildKit.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, LineError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(rest)
    else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            item.as_str().map(str::to_string).ok_or_else(|| {
                LineError::new(ErrorKind::Syntax, NOT_STRING_ARRAY.into(), Some(rest))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), LineError> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    Ok(match json_array(rest)? {
        Some(list) => (list, true),
        None => (vec![rest.to_string()], false),
    })
}

fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), LineError> {
    Ok(match json_array(rest)? {
        Some(list) => (list, true),
        None => (blank_separated(rest), false),
    })
}

/// `ENV`/`LABEL`: the old `key value` form (the first word has no `=`) or `k=v` pairs; each
/// pair becomes key, value, separator (`=`, or `""` for the old form).
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<String>, LineError> {
    let list = split_words_keeping_quotes(rest, escape);
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        // Old form: everything after the first run of blanks is the value.
        let (key, value) = split_keyword(rest);
        if value.is_empty() {
            return Err(LineError::new(
                ErrorKind::Argument,
                format!("{keyword} must have two arguments"),
                Some(key),
            ));
        }
        return Ok(vec![key.to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::new();
    for word in &list {
        let Some((key, value)) = word.split_once('=') else {
            return Err(LineError::new(
                ErrorKind::Argument,
                format!("syntax error - can't find = in {word:?}: must be of the form name=value"),
                Some(word),
            ));
        };
        out.extend([key.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(out)
}

/// `HEALTHCHECK [type] [cmd…]`: the first word, then the rest in JSON or shell form.
fn health(rest: &str) -> Result<(Vec<String>, bool), LineError> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    let (kind, cmd) = match rest.find(char::is_whitespace) {
        Some(at) => (&rest[..at], rest[at..].trim_start()),
        None => (rest, ""),
    };
    let (inner, json) = maybe_json(cmd)?;
    let mut list = vec![kind.to_string()];
    list.extend(inner);
    Ok((list, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(line: &str) -> Node {
        let segments = [Segment {
            offset: 0,
            line: 7,
            column: 3,
        }];
        node_from_line(line, &segments, '\\').unwrap()
    }

    #[test]
    fn onbuild_child_keeps_its_position() {
        let outer = node("ONBUILD  RUN --network=none make");
        let child = outer.args.nested().unwrap();
        assert_eq!((child.start_line, child.column), (7, 12));
        assert_eq!(child.flags, ["--network=none"]);
        assert_eq!(child.find("--network"), Some((7, 16, 9)));
    }

    #[test]
    fn json_needs_strings_only_and_falls_back_otherwise() {
        assert!(node("CMD [\"a\"] trailing").args.words() == ["[\"a\"] trailing"]);
        assert!(node("CMD [\"a\"] ").json);
        let err = node_from_line("CMD [1]", &[], '\\').unwrap_err();
        assert_eq!(err.message, NOT_STRING_ARRAY);
    }
}
