//! The frontend's error type. Every error about the Dockerfile knows where it is — the file,
//! the instruction's line range and, where it helps, the exact spot — and prints the offending
//! line with a caret under that spot, as rustc and BuildKit do:
//!
//! ```text
//! Dockerfile:2:6: unknown flag: --doit (COPY takes --from, --chown, …)
//!    |
//!  2 | COPY --doit=true a /b
//!    |      ^^^^^^
//! ```
//!
//! Errors are built without the file (the parser only sees text); the caller adds it with
//! [`Error::in_file`]. Modules add a variant when their errors need other data; errors about a
//! place in the Dockerfile use [`Error::Dockerfile`] with their own [`ErrorKind`].

use std::fmt::Write as _;

/// Where in a Dockerfile something is (1-based lines and column).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The Dockerfile's path as the user gave it (`Dockerfile` when read from stdin).
    pub file: String,
    /// First line of the instruction (1-based).
    pub start_line: usize,
    /// Last line of the instruction (1-based, inclusive).
    pub end_line: usize,
    /// The line the caret goes on (0: `start_line`); an instruction may span several lines and
    /// the offending word may be on any of them.
    pub caret_line: usize,
    /// Column of the offending spot on the caret line (1-based, in characters), when known.
    pub column: Option<usize>,
    /// How many characters to underline from `column` (at least one caret is drawn).
    pub width: usize,
    /// The text of the caret line, filled in by [`Error::in_file`].
    pub source_line: Option<String>,
}

/// What kind of problem a Dockerfile error is, for callers that react differently (hints,
/// tests) without matching on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text cannot be read as a Dockerfile: directives, heredocs, JSON, line structure.
    Syntax,
    /// An instruction name BuildKit does not know.
    UnknownInstruction,
    /// A flag that is unknown, repeated, malformed, or has a bad value (`--mount` specs too).
    Flag,
    /// Missing, extra or malformed arguments of a known instruction.
    Argument,
    /// Anything the later layers find: stages, variables, the build graph.
    Other,
}

/// Everything the frontend can reject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem at a place in the Dockerfile.
    #[error("{}", render(.message, .location, .hint.as_deref()))]
    Dockerfile {
        /// What is wrong (lower-case, no final period).
        message: String,
        /// What kind of problem it is.
        kind: ErrorKind,
        /// Where (boxed: errors travel in every `Result` of the frontend).
        location: Box<Location>,
        /// A suggestion, printed on its own `hint:` line.
        hint: Option<String>,
        /// What the message reports, when it comes from another crate (a base image the
        /// builder could not find or pull): kept whole for callers that look past the text.
        #[source]
        cause: Option<Cause>,
    },
    /// A request that names something the Dockerfile does not have (`--target`, build args).
    #[error("{message}")]
    Request {
        /// What is wrong.
        message: String,
    },
}

/// The frontend's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from outside the frontend that a Dockerfile error reports (see
/// [`crate::BaseImages`]).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

impl Error {
    /// An error of `kind` about the instruction on lines `start_line..=end_line`.
    pub fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        start_line: usize,
        end_line: usize,
    ) -> Self {
        Error::Dockerfile {
            message: message.into(),
            kind,
            location: Box::new(Location {
                start_line,
                end_line,
                ..Location::default()
            }),
            hint: None,
            cause: None,
        }
    }

    /// An error of kind [`ErrorKind::Other`] at a line range.
    pub fn at(message: impl Into<String>, start_line: usize, end_line: usize) -> Self {
        Error::new(ErrorKind::Other, message, start_line, end_line)
    }

    /// Adds a hint.
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        if let Error::Dockerfile { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// Keeps the error the message reports as this error's source.
    pub fn with_cause(mut self, error: Cause) -> Self {
        if let Error::Dockerfile { cause, .. } = &mut self {
            *cause = Some(error);
        }
        self
    }

    /// Puts the caret at a column of the first line.
    pub fn with_column(self, column: usize) -> Self {
        let line = self.location().map_or(0, |l| l.start_line);
        self.with_span(line, column, 1)
    }

    /// Puts the caret under `width` characters from `column` on `line`.
    pub fn with_span(mut self, line: usize, column: usize, width: usize) -> Self {
        if let Error::Dockerfile { location, .. } = &mut self {
            location.caret_line = line;
            location.column = Some(column);
            location.width = width.max(1);
        }
        self
    }

    /// Like [`Error::with_span`] for an optional `(line, column, width)` position.
    pub fn with_position(self, position: Option<(usize, usize, usize)>) -> Self {
        match position {
            Some((line, column, width)) => self.with_span(line, column, width),
            None => self,
        }
    }

    /// Fills in the file name and the offending line's text from the Dockerfile.
    pub fn in_file(mut self, file: &str, text: &str) -> Self {
        if let Error::Dockerfile { location, .. } = &mut self {
            location.file = file.to_string();
            let line = location.caret_line();
            if line > 0 {
                location.source_line = text
                    .strip_prefix('\u{feff}')
                    .unwrap_or(text)
                    .split('\n')
                    .nth(line - 1)
                    .map(|line| line.trim_end_matches(['\r', '\n']).to_string());
            }
        }
        self
    }

    /// The location, if the error has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Dockerfile { location, .. } => Some(location),
            Error::Request { .. } => None,
        }
    }

    /// The kind of a Dockerfile error.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Dockerfile { kind, .. } => Some(*kind),
            Error::Request { .. } => None,
        }
    }

    /// The bare message without location and hint.
    pub fn message(&self) -> &str {
        match self {
            Error::Dockerfile { message, .. } | Error::Request { message } => message,
        }
    }
}

impl Location {
    /// `message` at this place, as Dockerfile errors print: `FILE:LINE: message`, then the
    /// line with carets under it when its text is known. For errors found later than the
    /// frontend (a failed build step) that point at the instruction they come from.
    pub fn render(&self, message: &str) -> String {
        render(message, self, None)
    }

    /// The line the caret goes on.
    pub fn caret_line(&self) -> usize {
        if self.caret_line > 0 {
            self.caret_line
        } else {
            self.start_line
        }
    }
}

fn render(message: &str, location: &Location, hint: Option<&str>) -> String {
    let mut out = String::new();
    let file = if location.file.is_empty() {
        "Dockerfile"
    } else {
        &location.file
    };
    let caret_line = location.caret_line();
    match location.column {
        Some(column) if caret_line > 0 => {
            let _ = write!(out, "{file}:{caret_line}:{column}: {message}");
        }
        _ if location.start_line > 0 && location.end_line > location.start_line => {
            let (start, end) = (location.start_line, location.end_line);
            let _ = write!(out, "{file}:{start}-{end}: {message}");
        }
        _ if location.start_line > 0 => {
            let _ = write!(out, "{file}:{}: {message}", location.start_line);
        }
        _ => {
            let _ = write!(out, "{file}: {message}");
        }
    }
    if let Some(line) = &location.source_line {
        let number = caret_line.to_string();
        let pad = " ".repeat(number.len());
        let (caret_at, width) = match location.column {
            Some(column) => (column, location.width.max(1)),
            // No spot known: underline the whole instruction text on that line.
            None => (
                line.chars().take_while(|c| c.is_whitespace()).count() + 1,
                line.trim().chars().count().max(1),
            ),
        };
        // A long line (a minified blob, a 1 MB RUN) is cut to a window around the caret.
        let (line, caret_at, width) = window(line, caret_at, width);
        // Keep tabs so that the caret lines up under tab-indented text.
        let prefix: String = line
            .chars()
            .chain(std::iter::repeat(' '))
            .take(caret_at.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = write!(out, "\n {pad} |\n {number} | {line}");
        let _ = write!(out, "\n {pad} | {prefix}{}", "^".repeat(width));
    }
    if let Some(hint) = hint {
        let _ = write!(out, "\nhint: {hint}");
    }
    out
}

/// Snippet lines longer than this many characters are cut to this many around the caret.
const SNIPPET_WIDTH: usize = 120;
/// What stands for the cut-off part of a snippet line.
const CUT: &str = "...";

/// The part of `line` to show, with the caret's 1-based column and width in it: the whole line
/// when it is short, else [`SNIPPET_WIDTH`] characters starting a little before the caret,
/// with [`CUT`] where text was left out and the carets stopping at the window's end.
fn window(line: &str, caret_at: usize, width: usize) -> (std::borrow::Cow<'_, str>, usize, usize) {
    let len = line.chars().count();
    if len <= SNIPPET_WIDTH {
        return (line.into(), caret_at, width);
    }
    let caret = caret_at.saturating_sub(1).min(len);
    let mut start = caret.saturating_sub(SNIPPET_WIDTH / 3);
    let end = (start + SNIPPET_WIDTH).min(len);
    if end - start < SNIPPET_WIDTH {
        start = end - SNIPPET_WIDTH;
    }
    let mut shown = String::new();
    if start > 0 {
        shown.push_str(CUT);
    }
    shown.extend(line.chars().skip(start).take(end - start));
    if end < len {
        shown.push_str(CUT);
    }
    let lead = if start > 0 { CUT.len() } else { 0 };
    let width = width.min(end.saturating_sub(caret)).max(1);
    (shown.into(), caret - start + lead + 1, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_caret_and_hint() {
        let err = Error::at("unknown instruction: RUNN", 2, 2)
            .with_hint("did you mean `RUN`?")
            .in_file("app/Dockerfile", "FROM x\n  RUNN make\n");
        assert_eq!(
            err.to_string(),
            "app/Dockerfile:2: unknown instruction: RUNN\n   |\n 2 |   RUNN make\n   |   ^^^^^^^^^\nhint: did you mean `RUN`?"
        );
    }

    #[test]
    fn a_span_puts_carets_there_on_its_own_line() {
        let text = "FROM x\nCOPY --link \\\n\t--x=1 a b\n";
        let err = Error::new(ErrorKind::Flag, "unknown flag: --x", 2, 3)
            .with_span(3, 2, 3)
            .in_file("Dockerfile", text);
        assert_eq!(
            err.to_string(),
            "Dockerfile:3:2: unknown flag: --x\n   |\n 3 | \t--x=1 a b\n   | \t^^^"
        );
        assert_eq!(err.kind(), Some(ErrorKind::Flag));
        assert_eq!(err.location().unwrap().start_line, 2);
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        // A 1 MB line once came back twice (the line and as many carets): 2 MB of stderr.
        let long = format!(
            "FROM x\nRUN {} --bad=1 {}\n",
            "a".repeat(500_000),
            "b".repeat(500_000)
        );
        let column = "RUN ".len() + 500_000 + 2;
        let err = Error::new(ErrorKind::Flag, "unknown flag: --bad", 2, 2)
            .with_span(2, column, 5)
            .in_file("Dockerfile", &long);
        let text = err.to_string();
        assert!(text.len() < 600, "{} bytes", text.len());
        let lines: Vec<&str> = text.lines().collect();
        let (shown, carets) = (lines[2], lines[3]);
        assert!(
            shown.starts_with(" 2 | ...aaa") && shown.ends_with("bbb..."),
            "{shown}"
        );
        // The carets sit under `--bad` in the cut line.
        let at = carets.find('^').unwrap();
        assert_eq!(&shown[at..at + 5], "--bad");
        assert_eq!(carets[at..].trim_end(), "^^^^^");

        // No column: the whole instruction is underlined, up to the cut.
        let err = Error::at("too long", 2, 2).in_file("Dockerfile", &long);
        let text = err.to_string();
        assert!(text.len() < 600, "{} bytes", text.len());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[2].starts_with(" 2 | RUN aaa") && lines[2].ends_with("a..."));
        assert_eq!(lines[3], format!("   | {}", "^".repeat(120)));

        // A caret at the very end of a long line.
        let line = format!("FROM x\nRUN {}\n", "c".repeat(1000));
        let err = Error::at("x", 2, 2)
            .with_span(2, 1005, 3)
            .in_file("Dockerfile", &line);
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[2].starts_with(" 2 | ...ccc") && lines[2].ends_with("ccc"));
        assert_eq!(lines[3].find('^').unwrap(), lines[2].len());
    }

    #[test]
    fn ranges_without_a_column_print_both_lines_and_no_text_means_no_snippet() {
        let err = Error::new(ErrorKind::Syntax, "unterminated heredoc", 4, 9);
        assert_eq!(err.to_string(), "Dockerfile:4-9: unterminated heredoc");
        let err = Error::at("no FROM", 0, 0).in_file("x", "");
        assert_eq!(err.to_string(), "x: no FROM");
    }
}
