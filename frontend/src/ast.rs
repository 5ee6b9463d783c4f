//! The lenient syntax tree of a Dockerfile: one node per instruction with its flags and
//! arguments exactly as written, before any validation. It is what BuildKit's `debug dump`
//! prints, and what the instruction layer ([`crate::instructions`]) turns into typed instructions.

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// The instructions in order.
    pub nodes: Vec<Node>,
    /// The escape character in effect (`\` or `` ` `` from `# escape=`).
    pub escape: char,
    /// Parser directives found at the top (`syntax`, `escape`, `check`), lower-case names.
    pub directives: Vec<(String, String)>,
    /// Non-fatal findings (e.g. empty continuation lines), with their line.
    pub warnings: Vec<(usize, String)>,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction keyword, lower-case (`run`, `copy`, …).
    pub keyword: String,
    /// Flags as written, without quotes (`--from=build`).
    pub flags: Vec<String>,
    /// The arguments.
    pub args: Args,
    /// Whether the arguments were written as a JSON array (exec form).
    pub json: bool,
    /// The whole instruction line after continuations were joined (keyword included).
    pub original: String,
    /// Here-documents the instruction reads (`RUN <<EOF`), in order.
    pub heredocs: Vec<Heredoc>,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line (1-based, inclusive; heredoc bodies included).
    pub end_line: usize,
}

/// An instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// A list of strings: words, a JSON array's items, a single shell-form string, or for
    /// `ENV`/`LABEL` triples of key, value and separator (`=` or `""` for the old `k v` form).
    Words(Vec<String>),
    /// The instruction `ONBUILD` wraps.
    Nested(Box<Node>),
}

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, unquoted (`EOF`).
    pub name: String,
    /// The body, each line ending in `\n`, leading tabs already removed for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): no variable expansion.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub chomp: bool,
    /// The file descriptor prefix (`3<<EOF`), 0 (stdin) when absent.
    pub fd: u32,
}

impl Args {
    /// The argument strings (empty for a nested instruction).
    pub fn words(&self) -> &[String] {
        match self {
            Args::Words(words) => words,
            Args::Nested(_) => &[],
        }
    }
}

impl Ast {
    /// BuildKit's `debug dump` text: one `(keyword ["flags"] "arg" …)` line per instruction.
    pub fn dump(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("({})\n", node.dump()))
            .collect()
    }
}

impl Node {
    /// The node in BuildKit's dump format, without the surrounding parentheses.
    pub fn dump(&self) -> String {
        let mut out = self.keyword.clone();
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

/// Quotes a string as Go's `strconv.Quote` does (the dump format is Go's).
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
            c if c.is_control() => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{0}\t♥"), r#""\x00\t♥""#);
    }
}
