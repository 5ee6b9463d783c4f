//! The lenient syntax tree of a Dockerfile: one node per instruction with its flags and
//! arguments exactly as written, before any validation. It is what BuildKit's `debug dump`
//! prints ([`crate::dump`]), and what the instruction layer ([`crate::instructions`]) turns into
//! typed instructions.
//!
//! Positions are first-class: every node knows its first and last line, the column of its
//! keyword, and where each piece of its (continuation-joined) text came from, so that later
//! layers can point at the exact flag or word that is wrong.

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// The instructions in order.
    pub nodes: Vec<Node>,
    /// The escape character in effect (`\` or `` ` `` from `# escape=`): the shell lexer of the
    /// later layers must use the same one.
    pub escape: char,
    /// Parser directives found at the top (`syntax`, `escape`, `check`), lower-case names,
    /// values as written.
    pub directives: Vec<(String, String)>,
    /// Non-fatal findings (e.g. empty continuation lines), with the instruction's first line.
    pub warnings: Vec<(usize, String)>,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction keyword, lower-case (`run`, `copy`, …).
    pub keyword: String,
    /// Flags as written, quotes removed as BuildKit does (`--from=build`).
    pub flags: Vec<String>,
    /// The arguments.
    pub args: Args,
    /// Whether the arguments were written as a JSON array (exec form).
    pub json: bool,
    /// The whole instruction after continuations were joined (keyword included, indentation
    /// and continuation characters removed): BuildKit's `Original`.
    pub original: String,
    /// Here-documents the instruction reads (`RUN <<EOF`), in order. For `ONBUILD RUN <<EOF`
    /// they hang on the ONBUILD node, as in BuildKit.
    pub heredocs: Vec<Heredoc>,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line (1-based, inclusive; heredoc bodies included).
    pub end_line: usize,
    /// Column of the keyword on `start_line` (1-based, in characters, after indentation).
    pub column: usize,
    /// Where the pieces of `original` come from, in order; see [`Node::position`].
    pub segments: Vec<Segment>,
}

/// A piece of [`Node::original`] that comes from one physical line. Continuation lines are
/// joined into one string; this keeps the way back to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Byte offset in `original` where the piece starts.
    pub offset: usize,
    /// The physical line (1-based).
    pub line: usize,
    /// Column (1-based, in characters) of the piece's first character on that line.
    pub column: usize,
}

/// An instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// A list of strings: words, a JSON array's items, a single shell-form string, or for
    /// `ENV`/`LABEL` triples of key, value and separator (`=`, or `""` for the old `k v` form).
    Words(Vec<String>),
    /// The instruction `ONBUILD` wraps.
    Nested(Box<Node>),
}

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, unquoted (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The body as in the file: every line with its own line ending (CRLF stays CRLF, as in
    /// BuildKit), leading tabs already removed for `<<-`.
    pub content: String,
    /// False when (part of) the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): the body is used
    /// as is, without variable expansion.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped from the body and the delimiter line.
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

    /// The nested instruction of an `ONBUILD`.
    pub fn nested(&self) -> Option<&Node> {
        match self {
            Args::Nested(node) => Some(node),
            Args::Words(_) => None,
        }
    }
}

impl Node {
    /// Line and column (1-based) of a byte offset in [`Node::original`], so that an error about
    /// a word can point at it even when the instruction spans several lines.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let Some(segment) = self.segments.iter().rev().find(|s| s.offset <= offset) else {
            return (self.start_line, self.column);
        };
        let piece = self
            .original
            .get(segment.offset..offset)
            .unwrap_or_default();
        (segment.line, segment.column + piece.chars().count())
    }

    /// Where `needle` first occurs in `original` after the keyword: (line, column, width in
    /// characters). `None` when it was not written literally (e.g. quotes were removed).
    pub fn find(&self, needle: &str) -> Option<(usize, usize, usize)> {
        if needle.is_empty() {
            return None;
        }
        let skip = self.keyword.len().min(self.original.len());
        let at = self.original.get(skip..)?.find(needle)? + skip;
        let (line, column) = self.position(at);
        Some((line, column, needle.chars().count()))
    }

    /// Like [`Node::find`], for the last occurrence (arguments come after flags).
    pub fn rfind(&self, needle: &str) -> Option<(usize, usize, usize)> {
        if needle.is_empty() {
            return None;
        }
        let skip = self.keyword.len().min(self.original.len());
        let at = self.original.get(skip..)?.rfind(needle)? + skip;
        let (line, column) = self.position(at);
        Some((line, column, needle.chars().count()))
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::parse;

    #[test]
    fn positions_map_back_through_continuations() {
        let ast = parse("FROM x\n  COPY --link \\\n    --bad=1 a b\n").unwrap();
        let node = &ast.nodes[1];
        assert_eq!((node.start_line, node.end_line, node.column), (2, 3, 3));
        assert_eq!(node.find("--link"), Some((2, 8, 6)));
        assert_eq!(node.find("--bad"), Some((3, 5, 5)));
        assert_eq!(node.rfind("b"), Some((3, 15, 1)));
        assert_eq!(node.find("--nope"), None);
    }
}
