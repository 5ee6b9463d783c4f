//! Parser directives (`# syntax=`, `# escape=`, `# check=`): comments of the form
//! `# name=value` at the very top of the file. BuildKit's rules: the first line that is not a
//! directive — an instruction, an empty line, any other comment — ends them; a directive name
//! may appear once; only `escape` changes how the rest is parsed (the escape character, which
//! is also the line-continuation character).

use crate::error::{Error, ErrorKind, Result};

/// Directive names BuildKit recognises; any other `# name=value` ends the directive block.
const KNOWN: [&str; 3] = ["escape", "syntax", "check"];

/// The directive block and the escape character it sets.
pub struct Directives {
    /// The escape character in effect.
    pub escape: char,
    /// The directives found, lower-case names.
    pub found: Vec<(String, String)>,
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
    /// Looks at each line in turn (BuildKit feeds it every line it reads outside heredoc
    /// bodies); directives count only before the first other line.
    pub fn observe(&mut self, line: &str, number: usize) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let Some(directive) = parse_directive(line) else {
            self.done = true;
            return Ok(());
        };
        if !KNOWN.contains(&directive.name.as_str()) {
            self.done = true;
            return Ok(());
        }
        let column = line[..directive.value_at].chars().count() + 1;
        let width = directive.value.chars().count();
        if self.found.iter().any(|(seen, _)| *seen == directive.name) {
            let name_column = line[..directive.name_at].chars().count() + 1;
            return Err(Error::new(
                ErrorKind::Syntax,
                format!("only one {} parser directive can be used", directive.name),
                number,
                number,
            )
            .with_span(number, name_column, directive.name.len()));
        }
        if directive.name == "escape" {
            self.escape = match directive.value.as_str() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(Error::new(
                        ErrorKind::Syntax,
                        format!("invalid escape token '{other}' does not match ` or \\"),
                        number,
                        number,
                    )
                    .with_span(number, column, width))
                }
            };
        }
        self.found.push((directive.name, directive.value));
        Ok(())
    }
}

/// A `# name = value` line.
struct Directive {
    name: String,
    value: String,
    /// Byte offsets in the line, for carets.
    name_at: usize,
    value_at: usize,
}

/// Go's `\s` (RE2, ASCII only).
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r')
}

/// BuildKit's `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, including its corner case: a
/// value of blanks only is the last blank (the lazy group must take one character).
fn parse_directive(line: &str) -> Option<Directive> {
    let rest = line.strip_prefix('#')?;
    let rest = rest.trim_start_matches(is_go_space);
    let name_at = line.len() - rest.len();
    let name_len = rest
        .char_indices()
        .take_while(|&(i, c)| {
            if i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
        })
        .count();
    if name_len == 0 {
        return None;
    }
    let name = rest[..name_len].to_lowercase();
    let after_name = rest[name_len..].trim_start_matches(is_go_space);
    let after_equals = after_name.strip_prefix('=')?;
    let trimmed = after_equals.trim_start_matches(is_go_space);
    let (value, value_at) = if trimmed.is_empty() {
        let last = after_equals.chars().last()?;
        (last.to_string(), line.len() - last.len_utf8())
    } else {
        (
            trimmed.trim_end_matches(is_go_space).to_string(),
            line.len() - trimmed.len(),
        )
    };
    Some(Directive {
        name,
        value,
        name_at,
        value_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(line: &str) -> Option<(String, String)> {
        parse_directive(line).map(|d| (d.name, d.value))
    }

    #[test]
    fn directive_syntax_follows_buildkits_regex() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(directive("# escape=`"), pair("escape", "`"));
        assert_eq!(
            directive("#Syntax = docker/dockerfile:1 "),
            pair("syntax", "docker/dockerfile:1")
        );
        assert_eq!(directive("# check=skip=all"), pair("check", "skip=all"));
        assert_eq!(directive("# escape= "), pair("escape", " "));
        assert_eq!(directive("# escape="), None);
        assert_eq!(directive("# 1x=y"), None);
        assert_eq!(directive("# a comment"), None);
        assert_eq!(directive(""), None);
    }

    #[test]
    fn the_block_ends_at_the_first_other_line() {
        let mut d = Directives::default();
        d.observe("# syntax=x", 1).unwrap();
        d.observe("# unknown=1", 2).unwrap();
        d.observe("# escape=`", 3).unwrap();
        assert_eq!(d.escape, '\\');
        assert_eq!(d.found, [("syntax".to_string(), "x".to_string())]);
        let mut d = Directives::default();
        d.observe("# escape=`", 1).unwrap();
        let err = d.observe("# ESCAPE=\\", 2).unwrap_err();
        assert_eq!(
            err.message(),
            "only one escape parser directive can be used"
        );
    }
}
