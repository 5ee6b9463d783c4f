//! The AST layer: Dockerfile text → [`Ast`], following BuildKit's parser line for line.
//!
//! It handles what is about lines rather than instructions: a UTF-8 BOM, CRLF, parser
//! directives at the top (`# escape=`, `# syntax=`, `# check=`), comments, line continuations
//! (including empty and comment lines inside them), and here-documents. Flags and arguments are
//! kept as written; [`crate::instructions`] validates them.

mod dispatch;
mod heredoc;
pub(crate) mod words;

use crate::ast::Ast;
use crate::error::{Error, Result};

pub use heredoc::heredoc_words;

/// Directive names BuildKit recognises; anything else ends the directive block.
const DIRECTIVES: [&str; 3] = ["escape", "syntax", "check"];

/// Parses Dockerfile text. Errors carry line numbers but no file name; callers add it with
/// [`Error::in_file`].
pub fn parse(text: &str) -> Result<Ast> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut directives = Directives::default();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let raw = trim_newline(lines[index]);
        let current = raw.trim_start();
        directives.observe(current, index + 1)?;
        index += 1;
        let start_line = index;
        if is_comment(current) {
            continue;
        }
        let (mut line, mut complete) = trim_continuation(current, directives.escape);
        if complete && line.trim().is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !complete && index < lines.len() {
            let raw = trim_newline(lines[index]);
            directives.observe(raw, index + 1)?;
            index += 1;
            if is_comment(raw) {
                continue;
            }
            if raw.trim().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (more, done) = trim_continuation(raw, directives.escape);
            line.push_str(&more);
            complete = done;
        }
        if empty_continuation {
            warnings.push((
                start_line,
                format!("empty continuation line found in: {line}"),
            ));
        }
        let mut node = dispatch::node_from_line(&line, directives.escape)
            .map_err(|message| Error::at(message, start_line, index))?;
        if matches!(node.keyword.as_str(), "run" | "copy" | "add") && line.contains("<<") {
            for mut doc in
                heredoc::heredocs_in(&line).map_err(|m| Error::at(m, start_line, index))?
            {
                let mut terminated = false;
                while index < lines.len() {
                    let body_line = lines[index];
                    index += 1;
                    let mut candidate = trim_newline(body_line);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    let mut content_line = trim_newline(body_line).to_string();
                    if doc.chomp {
                        content_line = content_line.trim_start_matches('\t').to_string();
                    }
                    doc.content.push_str(&content_line);
                    doc.content.push('\n');
                }
                if !terminated {
                    return Err(Error::at(
                        format!("unterminated heredoc `{}`", doc.name),
                        start_line,
                        index,
                    ));
                }
                node.heredocs.push(doc);
            }
        }
        node.start_line = start_line;
        node.end_line = index;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(Error::at(
            "file with no instructions",
            lines.len().max(1),
            lines.len().max(1),
        ));
    }
    Ok(Ast {
        nodes,
        escape: directives.escape,
        directives: directives.found,
        warnings,
    })
}

/// The directive block at the top of the file and the escape character it sets.
struct Directives {
    escape: char,
    found: Vec<(String, String)>,
    done: bool,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            found: Vec::new(),
            done: false,
        }
    }
}

impl Directives {
    /// Looks at each line in turn; directives count only before the first other line.
    fn observe(&mut self, line: &str, number: usize) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = parse_directive(line) else {
            self.done = true;
            return Ok(());
        };
        if !DIRECTIVES.contains(&name.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.found.iter().any(|(seen, _)| *seen == name) {
            return Err(Error::at(
                format!("only one {name} parser directive can be used"),
                number,
                number,
            ));
        }
        if name == "escape" {
            self.escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(Error::at(
                        format!("invalid escape token '{other}' does not match ` or \\"),
                        number,
                        number,
                    ))
                }
            };
        }
        self.found.push((name, value));
        Ok(())
    }
}

/// `# name = value` (BuildKit: `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`).
fn parse_directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .take_while(|(i, c)| {
            if *i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
        })
        .count();
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_lowercase(), value.to_string()))
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing continuation character (and blanks after it). A continuation is an odd
/// number of escape characters at the end: `\\` at the end is an escaped backslash, not one.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let run = body.chars().rev().take_while(|&c| c == escape).count();
    if run % 2 == 1 {
        (body[..body.len() - escape.len_utf8()].to_string(), false)
    } else {
        (line.to_string(), true)
    }
}
