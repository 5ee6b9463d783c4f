//! The AST layer: Dockerfile text → [`Ast`], following BuildKit's parser line for line.
//!
//! It handles what is about lines rather than instructions: a UTF-8 BOM, CRLF, parser
//! directives at the top (`# escape=`, `# syntax=`, `# check=`), comments, line continuations
//! (including empty and comment lines inside them, and a trailing escape at the end of the
//! file), and here-documents. Flags and arguments are kept as written;
//! [`crate::instructions`] validates them.

mod directives;
mod dispatch;
mod heredoc;
pub(crate) mod words;

use crate::ast::{Args, Ast, Node, Segment};
use crate::error::{Error, ErrorKind, Result};

pub use heredoc::{heredoc_words, parse_heredoc_word};

/// BuildKit reads lines with Go's `bufio.Scanner`, which fails on a line longer than 64 KiB
/// (newline included).
const MAX_LINE: usize = 64 * 1024;

/// Parses Dockerfile text. Errors carry line numbers but no file name; callers add it with
/// [`Error::in_file`].
pub fn parse(text: &str) -> Result<Ast> {
    let bom = text.starts_with('\u{feff}');
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    check_line_lengths(&lines, bom)?;
    let mut directives = directives::Directives::default();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut next = 0;
    while next < lines.len() {
        let raw = trim_newline(lines[next]);
        next += 1;
        let start_line = next;
        let current = raw.trim_start();
        directives.observe(current, start_line)?;
        if is_comment(current) {
            continue;
        }
        let escape = directives.escape;
        let (piece, mut complete) = trim_continuation(current, escape);
        if complete && piece.is_empty() {
            continue;
        }
        let indent = raw[..raw.len() - current.len()].chars().count();
        let mut line = piece.to_string();
        let mut segments = vec![Segment {
            offset: 0,
            line: start_line,
            column: indent + 1,
        }];
        let mut empty_continuation = false;
        while !complete && next < lines.len() {
            let raw = trim_newline(lines[next]);
            next += 1;
            directives.observe(raw, next)?;
            if is_comment(raw) {
                continue;
            }
            if raw.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (piece, done) = trim_continuation(raw, escape);
            segments.push(Segment {
                offset: line.len(),
                line: next,
                column: 1,
            });
            line.push_str(piece);
            complete = done;
        }
        if empty_continuation {
            warnings.push((
                start_line,
                format!("empty continuation line found in: {line}"),
            ));
        }
        let mut node = dispatch::node_from_line(&line, &segments, escape).map_err(|err| {
            let probe = probe_node(&line, &segments);
            Error::new(err.kind, err.message, start_line, next)
                .with_position(err.needle.and_then(|n| probe.find(&n)))
        })?;
        if can_contain_heredoc(&node) && line.contains("<<") {
            let at = |node: &Node, needle: &str| node.find(needle);
            let docs = heredoc::heredocs_in(&line)
                .map_err(|m| Error::new(ErrorKind::Syntax, m, start_line, next))?;
            for (mut doc, word) in docs {
                let mut terminated = false;
                while next < lines.len() {
                    let body_line = lines[next];
                    next += 1;
                    let mut candidate = trim_newline(body_line);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(body_line);
                }
                if !terminated {
                    return Err(Error::new(
                        ErrorKind::Syntax,
                        format!("unterminated heredoc `{}`", doc.name),
                        start_line,
                        next,
                    )
                    .with_position(at(&node, &word))
                    .with_hint(format!(
                        "the body ends at a line holding only `{}`",
                        doc.name
                    )));
                }
                if doc.chomp {
                    doc.content = heredoc::chomp(&doc.content);
                }
                node.heredocs.push(doc);
            }
        }
        node.end_line = next;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(Error::new(
            ErrorKind::Syntax,
            "file with no instructions",
            lines.len(),
            lines.len(),
        ));
    }
    Ok(Ast {
        nodes,
        escape: directives.escape,
        directives: directives.found,
        warnings,
    })
}

/// BuildKit's `canContainHeredoc`: RUN, COPY and ADD in shell form, also under ONBUILD.
fn can_contain_heredoc(node: &Node) -> bool {
    let target = match &node.args {
        Args::Nested(child) if node.keyword == "onbuild" => child,
        _ => node,
    };
    matches!(target.keyword.as_str(), "run" | "copy" | "add") && !target.json
}

/// A node that only carries text and positions, to locate words of a line that did not parse.
fn probe_node(line: &str, segments: &[Segment]) -> Node {
    Node {
        keyword: String::new(),
        flags: Vec::new(),
        args: Args::Words(Vec::new()),
        json: false,
        original: line.to_string(),
        heredocs: Vec::new(),
        start_line: segments.first().map_or(0, |s| s.line),
        end_line: segments.last().map_or(0, |s| s.line),
        column: segments.first().map_or(1, |s| s.column),
        segments: segments.to_vec(),
    }
}

fn check_line_lengths(lines: &[&str], bom: bool) -> Result<()> {
    for (index, line) in lines.iter().enumerate() {
        let length = line.len() + if index == 0 && bom { 3 } else { 0 };
        if length > MAX_LINE {
            let number = index + 1;
            return Err(Error::new(
                ErrorKind::Syntax,
                format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE - 1
                ),
                number,
                number,
            ));
        }
    }
    Ok(())
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// BuildKit's continuation rule (`([^E])E[ \t]*$|^E[ \t]*$` for escape `E`): the line ends in
/// the escape character, blanks after it allowed, and that character is not itself escaped
/// by another escape character before it. Returns the line without it, and whether the
/// instruction is complete.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_follows_buildkits_regex() {
        assert_eq!(trim_continuation("a \\  ", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", true));
        // BuildKit's regex cannot see that the last of three is unescaped.
        assert_eq!(trim_continuation("a\\\\\\", '\\'), ("a\\\\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
    }

    #[test]
    fn heredocs_follow_onbuild_but_not_json_form() {
        let ast =
            parse("ONBUILD RUN <<EOF\nhi\nEOF\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\n").unwrap();
        assert_eq!(ast.nodes.len(), 2);
        assert_eq!(ast.nodes[0].heredocs[0].content, "hi\n");
        assert_eq!((ast.nodes[0].start_line, ast.nodes[0].end_line), (1, 3));
        assert!(ast.nodes[1].heredocs.is_empty());
    }

    #[test]
    fn heredoc_bodies_keep_their_line_endings() {
        let ast = parse("COPY <<-EOF /x\r\n\t\tline\r\n\tEOF\r\n").unwrap();
        assert_eq!(ast.nodes[0].heredocs[0].content, "line\r\n");
    }

    #[test]
    fn overlong_lines_are_rejected_as_buildkit_does() {
        let ok = format!("RUN {}\n", "x".repeat(MAX_LINE - 5));
        assert!(parse(&ok).is_ok());
        let long = format!("FROM a\nRUN {}\n", "x".repeat(MAX_LINE - 4));
        let err = parse(&long).unwrap_err();
        assert_eq!(err.location().unwrap().start_line, 2);
        assert!(err.message().contains("max allowed size of 65535"));
    }
}
