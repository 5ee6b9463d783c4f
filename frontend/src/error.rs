//! The frontend's error type. Every error knows where it is: the Dockerfile, the line range and,
//! where it helps, the column, and prints the offending line with a caret under the spot.

use std::fmt;

/// Where in a Dockerfile something is (1-based lines and column).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The Dockerfile's path as the user gave it (`Dockerfile` when read from stdin).
    pub file: String,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line (1-based, inclusive).
    pub end_line: usize,
    /// Column of the offending spot on `start_line` (1-based), when known.
    pub column: Option<usize>,
    /// The text of `start_line`, printed under the message with a caret.
    pub source_line: Option<String>,
}

/// Everything the frontend can reject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with the Dockerfile's text: syntax, arguments, flags, variables, stages.
    #[error("{}", render(.message, .location, .hint.as_deref()))]
    Dockerfile {
        /// What is wrong (lower-case, no final period).
        message: String,
        /// Where (boxed: errors travel in every `Result` of the frontend).
        location: Box<Location>,
        /// A suggestion, e.g. the nearest instruction name for a typo.
        hint: Option<String>,
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

impl Error {
    /// An error at a line range.
    pub fn at(message: impl Into<String>, start_line: usize, end_line: usize) -> Self {
        Error::Dockerfile {
            message: message.into(),
            location: Box::new(Location {
                start_line,
                end_line,
                ..Location::default()
            }),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        if let Error::Dockerfile { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// Adds the column of the offending spot.
    pub fn with_column(mut self, column: usize) -> Self {
        if let Error::Dockerfile { location, .. } = &mut self {
            location.column = Some(column);
        }
        self
    }

    /// Fills in the file name and the offending line's text from the Dockerfile.
    pub fn in_file(mut self, file: &str, text: &str) -> Self {
        if let Error::Dockerfile { location, .. } = &mut self {
            location.file = file.to_string();
            if location.start_line > 0 {
                location.source_line = text
                    .trim_start_matches('\u{feff}')
                    .lines()
                    .nth(location.start_line - 1)
                    .map(|line| line.trim_end_matches('\r').to_string());
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

    /// The bare message without location and hint.
    pub fn message(&self) -> &str {
        match self {
            Error::Dockerfile { message, .. } | Error::Request { message } => message,
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
    if location.start_line > 0 {
        let lines = if location.end_line > location.start_line {
            format!("{}-{}", location.start_line, location.end_line)
        } else {
            location.start_line.to_string()
        };
        let column = location.column.map(|c| format!(":{c}")).unwrap_or_default();
        let _ = fmt::Write::write_fmt(&mut out, format_args!("{file}:{lines}{column}: {message}"));
    } else {
        let _ = fmt::Write::write_fmt(&mut out, format_args!("{file}: {message}"));
    }
    if let Some(line) = &location.source_line {
        let number = location.start_line.to_string();
        let pad = " ".repeat(number.len());
        out.push_str(&format!("\n {pad} |\n {number} | {line}"));
        let caret_at = location
            .column
            .unwrap_or_else(|| line.len() - line.trim_start().len() + 1);
        let width = if location.column.is_some() {
            1
        } else {
            line.trim().chars().count().max(1)
        };
        let prefix: String = line
            .chars()
            .take(caret_at.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("\n {pad} | {prefix}{}", "^".repeat(width)));
    }
    if let Some(hint) = hint {
        out.push_str(&format!("\nhint: {hint}"));
    }
    out
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
    fn a_column_puts_one_caret_there_and_ranges_print_both_lines() {
        let err = Error::at("bad flag", 1, 3)
            .with_column(6)
            .in_file("Dockerfile", "COPY --x a b\n");
        let text = err.to_string();
        assert!(text.starts_with("Dockerfile:1-3:6: bad flag"), "{text}");
        assert!(text.ends_with("\n   |      ^"), "{text:?}");
    }
}
