//! BuildKit's `debug dump` format: one `(keyword ["flags"] "arg" …)` line per instruction,
//! strings quoted as Go's `strconv.Quote` does, ONBUILD's instruction nested in parentheses.
//! Heredoc bodies are not printed (BuildKit does not either).

use crate::ast::{Args, Ast, Node};

impl Ast {
    /// The dump of the whole file, each line ending in `\n`.
    pub fn dump(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("({})\n", node.dump()))
            .collect()
    }
}

impl Node {
    /// The node in the dump format, without the surrounding parentheses.
    pub fn dump(&self) -> String {
        let mut out = self.keyword.to_lowercase();
        if !self.flags.is_empty() {
            let flags: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            out.push_str(&format!(" [{}]", flags.join(" ")));
        }
        match &self.args {
            Args::Words(words) => {
                for word in words {
                    out.push(' ');
                    out.push_str(&go_quote(word));
                }
            }
            Args::Nested(child) => out.push_str(&format!(" ({})", child.dump())),
        }
        out
    }
}

/// Quotes a string as Go's `strconv.Quote` does: printable characters as they are, the usual
/// backslash escapes, `\xNN` below U+0020, `\uNNNN`/`\UNNNNNNNN` for other non-printable ones.
///
/// Go's notion of printable comes from Unicode categories; without those tables this treats
/// controls, format characters, non-ASCII spaces and private-use characters as non-printable,
/// which covers what appears in Dockerfiles (unassigned code points print as themselves).
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !is_go_printable(c) => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `strconv.IsPrint` for non-ASCII characters.
fn is_go_printable(c: char) -> bool {
    let code = c as u32;
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        return false;
    }
    let format_or_private = matches!(code,
        0xad
        | 0x600..=0x605
        | 0x61c
        | 0x6dd
        | 0x70f
        | 0x180e
        | 0x200b..=0x200f
        | 0x202a..=0x202e
        | 0x2060..=0x2064
        | 0x2066..=0x206f
        | 0xd800..=0xf8ff
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0xe0001
        | 0xe0020..=0xe007f
        | 0xf0000..);
    !format_or_private
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{0}\t♥☃é"), r#""\x00\t♥☃é""#);
        assert_eq!(
            go_quote("\u{7f}\u{85}\u{a0}\u{ad}"),
            r#""\x7f\u0085\u00a0\u00ad""#
        );
        assert_eq!(go_quote("\u{feff}\u{f0000}😀"), r#""\ufeff\U000f0000😀""#);
    }

    #[test]
    fn onbuild_nests_and_flags_print_as_a_go_slice() {
        let ast = crate::parser::parse("onbuild copy --from=x --link a /b\n").unwrap();
        assert_eq!(
            ast.dump(),
            "(onbuild (copy [\"--from=x\" \"--link\"] \"a\" \"/b\"))\n"
        );
    }
}
