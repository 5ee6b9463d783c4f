//! The patterns of `${A#p}`, `${A%p}` and `${A/p/r}`, with BuildKit's semantics.
//!
//! BuildKit turns a pattern into a Go regular expression (`*` → `.*` or `.*?`, `?` → `.`,
//! everything else literal) and uses Go's leftmost-first matching. This module does the same
//! without a regex engine: a pattern is a list of tokens, and the match picked is the one a
//! Perl-style backtracking engine prefers (greedy stars try the longest run first, lazy ones
//! the shortest), computed in linear time per token so that many stars cannot make it slow.
//! As with Go's `.`, a wildcard never matches a newline.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: any one character but a newline.
    Any,
    /// `*`: any run of characters without a newline.
    Star,
}

/// Compiles a pattern as BuildKit's `convertShellPatternToRegex`: `\*`, `\?` and `\\` are
/// literal, a `\` before `}` or `/` just quoted the delimiter, any other escape is an error.
fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::Any),
            '\\' => {
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(escaped @ ('*' | '?' | '\\')) => tokens.push(Token::Literal(escaped)),
                    Some(other) => return Err(format!("invalid escape '\\{other}'")),
                    None => return Err("invalid escape '\\' at the end".into()),
                }
            }
            literal => tokens.push(Token::Literal(literal)),
        }
    }
    Ok(tokens)
}

/// For every start position in `text`, the end of the match a backtracking engine would pick
/// (greedy or lazy stars), computed by dynamic programming from the last token backwards:
/// O(tokens × text) time, two rows of memory.
fn match_ends(tokens: &[Token], text: &[char], greedy: bool) -> Vec<Option<usize>> {
    let len = text.len();
    // `next[p]`: the preferred end for the tokens after the current one, starting at `p`.
    let mut next: Vec<Option<usize>> = (0..=len).map(Some).collect();
    for token in tokens.iter().rev() {
        let mut row = vec![None; len + 1];
        for p in (0..=len).rev() {
            let here = text.get(p).copied();
            row[p] = match token {
                Token::Literal(c) if here == Some(*c) => next[p + 1],
                Token::Any if here.is_some_and(|c| c != '\n') => next[p + 1],
                Token::Literal(_) | Token::Any => None,
                Token::Star => {
                    // One more character for the star, or stop it here: greedy prefers the
                    // longer run, lazy the shorter.
                    let longer = if here.is_some_and(|c| c != '\n') {
                        row[p + 1]
                    } else {
                        None
                    };
                    if greedy {
                        longer.or(next[p])
                    } else {
                        next[p].or(longer)
                    }
                }
            };
        }
        next = row;
    }
    next
}

/// The leftmost match at or after `from`: (start, end).
fn find(ends: &[Option<usize>], from: usize) -> Option<(usize, usize)> {
    (from..ends.len()).find_map(|start| ends[start].map(|end| (start, end)))
}

/// `${A#p}` (shortest) / `${A##p}` (longest): removes the matching prefix.
pub fn trim_prefix(pattern: &str, value: &str, longest: bool) -> Result<String, String> {
    let tokens = compile(pattern)?;
    let text: Vec<char> = value.chars().collect();
    Ok(match match_ends(&tokens, &text, longest)[0] {
        Some(end) => text[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${A%p}` (shortest) / `${A%%p}` (longest): removes the matching suffix. As BuildKit, a
/// prefix match of the reversed pattern against the reversed value.
pub fn trim_suffix(pattern: &str, value: &str, longest: bool) -> Result<String, String> {
    let mut tokens = compile(pattern)?;
    tokens.reverse();
    let mut text: Vec<char> = value.chars().collect();
    text.reverse();
    Ok(match match_ends(&tokens, &text, longest)[0] {
        Some(end) => text[end..].iter().rev().collect(),
        None => value.to_string(),
    })
}

/// `${A/p/r}` (first match) and `${A//p/r}` (every match), greedy, unanchored. Replacing
/// every match follows Go's `ReplaceAllString`: an empty match right after a match is
/// skipped, and the replacement is a template where `$0` is the match.
pub fn replace(pattern: &str, value: &str, replacement: &str, all: bool) -> Result<String, String> {
    let tokens = compile(pattern)?;
    let text: Vec<char> = value.chars().collect();
    let ends = match_ends(&tokens, &text, true);
    if !all {
        return Ok(match find(&ends, 0) {
            Some((start, end)) => {
                let mut out: String = text[..start].iter().collect();
                out.push_str(replacement);
                out.extend(&text[end..]);
                out
            }
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let mut last_end = 0;
    let mut search = 0;
    while search <= text.len() {
        let Some((start, end)) = find(&ends, search) else {
            break;
        };
        out.extend(&text[last_end..start]);
        if end > last_end || start == 0 {
            expand_template(replacement, &text[start..end], &mut out);
        }
        last_end = end;
        search = if search + 1 > end { search + 1 } else { end };
    }
    if last_end < text.len() {
        out.extend(&text[last_end..]);
    }
    Ok(out)
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0`/`${0}` the match,
/// any other `$name` nothing, and a `$` that starts no name stays.
fn expand_template(template: &str, matched: &[char], out: &mut String) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let name_len: usize = body
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        let closed = !braced || body[name_len..].starts_with('}');
        if name_len == 0 || !closed {
            out.push('$');
            continue;
        }
        if &body[..name_len] == "0" {
            out.extend(matched);
        }
        rest = &body[name_len + usize::from(braced)..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_compile_as_buildkit() {
        assert_eq!(
            compile(r"a\*\?\\\}\/").unwrap(),
            [
                Token::Literal('a'),
                Token::Literal('*'),
                Token::Literal('?'),
                Token::Literal('\\'),
                Token::Literal('}'),
                Token::Literal('/'),
            ]
        );
        assert_eq!(
            compile("[a]").unwrap(),
            [
                Token::Literal('['),
                Token::Literal('a'),
                Token::Literal(']')
            ]
        );
        for bad in [r"\", r"\x", r"\\\"] {
            assert!(compile(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lazy_and_greedy_prefixes() {
        assert_eq!(trim_prefix("*x*y", "xxyy", false).unwrap(), "y");
        assert_eq!(trim_prefix("*", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_prefix("*", "xxyy", true).unwrap(), "");
        assert_eq!(trim_prefix("*x", "xxyy", true).unwrap(), "yy");
        assert_eq!(trim_prefix(r"?\?", "???y", false).unwrap(), "?y");
    }

    #[test]
    fn suffixes_reverse_the_pattern_and_keep_escapes() {
        assert_eq!(trim_suffix(r"\**\*", "a***yy*", true).unwrap(), "a");
        assert_eq!(trim_suffix(r"\**", "xx**", true).unwrap(), "xx");
        assert_eq!(trim_suffix("x", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_suffix(".*", "a.tar.gz", false).unwrap(), "a.tar");
    }

    #[test]
    fn replacement_follows_go_replace_all() {
        assert_eq!(replace("", "xxyy", "ww", false).unwrap(), "wwxxyy");
        assert_eq!(replace("", "xxyy", "", true).unwrap(), "xxyy");
        assert_eq!(replace("", "ab", "-", true).unwrap(), "-a-b-");
        assert_eq!(replace("*", "", "y", true).unwrap(), "y");
        assert_eq!(replace("*", "abc", "y", true).unwrap(), "y");
        assert_eq!(
            replace("/?/", "/a/foo/b/c.txt", "/", true).unwrap(),
            "/foo/c.txt"
        );
        assert_eq!(replace("x", "axbx", "[$0$$]", true).unwrap(), "a[x$]b[x$]");
        assert_eq!(replace("x", "ax", "$1${0}$", true).unwrap(), "ax$");
        assert_eq!(replace("x", "ax", "$0", false).unwrap(), "a$0");
    }

    #[test]
    fn wildcards_stop_at_newlines() {
        assert_eq!(trim_prefix("*", "a\nb", true).unwrap(), "\nb");
        assert_eq!(replace("?", "\n", "x", true).unwrap(), "\n");
    }

    #[test]
    fn many_stars_stay_fast() {
        let value = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(40));
        assert_eq!(trim_prefix(&pattern, &value, true).unwrap(), value);
    }
}
