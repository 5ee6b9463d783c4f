//! The lexer: its options (BuildKit's `Lex` fields) and what it is asked to do with a word.

use std::collections::BTreeSet;

use super::{expansion, Vars};

/// The lexer: the Dockerfile's escape character plus BuildKit's processing switches. The
/// defaults are what instructions use; the switches serve progress names and heredocs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    pub(super) escape: char,
    pub(super) raw_quotes: bool,
    pub(super) raw_escapes: bool,
    pub(super) skip_quotes: bool,
    pub(super) skip_unset: bool,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer::new('\\')
    }
}

/// An expansion that cannot be done: unterminated quotes, bad substitutions, `${A:?msg}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {reason}")]
pub struct ExpandError {
    /// The word being expanded.
    pub word: String,
    /// What went wrong.
    pub reason: String,
}

/// Everything one expansion produced (BuildKit's `ProcessWordResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word as one string: quotes removed, variables substituted, blanks kept.
    pub result: String,
    /// The word split at unquoted blanks after substitution, as the shell would.
    pub words: Vec<String>,
    /// Variables that were looked up and set: what the result depends on (cache keys, the
    /// "unused build arg" check).
    pub matched: BTreeSet<String>,
    /// Variables that were looked up and unset (BuildKit's `UndefinedVar` warning).
    pub unmatched: BTreeSet<String>,
}

impl Lexer {
    /// A lexer using `escape` (`\` or `` ` ``) as the escape character.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_quotes: false,
            skip_unset: false,
        }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Keep quote characters in the result (BuildKit's `RawQuotes`): for showing a command
    /// with its variables substituted, as progress names do.
    pub fn raw_quotes(mut self, on: bool) -> Self {
        self.raw_quotes = on;
        self
    }

    /// Keep escape characters in the result (BuildKit's `RawEscapes`).
    pub fn raw_escapes(mut self, on: bool) -> Self {
        self.raw_escapes = on;
        self
    }

    /// Treat quotes as plain characters (BuildKit's `SkipProcessQuotes`): heredoc bodies are
    /// expanded this way, so a quote in a file's text stays in the file.
    pub fn skip_quotes(mut self, on: bool) -> Self {
        self.skip_quotes = on;
        self
    }

    /// Leave references to unset variables as written (BuildKit's `SkipUnsetEnv`), so that
    /// the shell that later runs the text can still expand them.
    pub fn skip_unset(mut self, on: bool) -> Self {
        self.skip_unset = on;
        self
    }

    /// Expands a word into one string (quotes removed, variables substituted).
    pub fn expand(&self, word: &str, vars: &dyn Vars) -> Result<String, ExpandError> {
        self.process(word, vars).map(|e| e.result)
    }

    /// Expands and splits into words at unquoted blanks, as the shell would (`EXPOSE`,
    /// `ONBUILD`-free word lists).
    pub fn expand_words(&self, word: &str, vars: &dyn Vars) -> Result<Vec<String>, ExpandError> {
        self.process(word, vars).map(|e| e.words)
    }

    /// Expands a word and reports which variables it used and which it found unset.
    pub fn process(&self, word: &str, vars: &dyn Vars) -> Result<Expansion, ExpandError> {
        expansion::process(*self, word, vars).map_err(|reason| ExpandError {
            word: word.to_string(),
            reason,
        })
    }
}
