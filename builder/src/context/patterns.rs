//! Docker's path patterns, as `.dockerignore` and `COPY --exclude` use them.
//!
//! The rules follow moby/patternmatcher: patterns are cleaned (`./a/../b` → `b`, a leading `/`
//! dropped), `*` and `?` never cross a `/`, `**` crosses any number of directories (also none), a
//! pattern that matches a directory also matches everything under it, and the last pattern that
//! matches decides; `!pattern` re-includes what earlier patterns excluded.

use globset::{GlobBuilder, GlobMatcher};

/// One compiled pattern line.
#[derive(Debug, Clone)]
struct Pattern {
    matcher: GlobMatcher,
    /// `!pattern`: a match re-includes the path.
    negated: bool,
}

/// An ordered list of patterns; [`PatternSet::is_excluded`] answers for a context-relative path.
#[derive(Debug, Clone, Default)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
    has_negations: bool,
}

/// A pattern that could not be compiled, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("invalid pattern `{pattern}`: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PatternSet {
    /// Compiles patterns in order. Blank lines and `#` comments are skipped as in `.dockerignore`.
    pub fn new<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, PatternError> {
        let mut set = PatternSet::default();
        for raw in lines {
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let (negated, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean_pattern(body);
            let matcher = GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|err| PatternError {
                    pattern: raw.to_string(),
                    reason: err.kind().to_string(),
                })?
                .compile_matcher();
            set.has_negations |= negated;
            set.patterns.push(Pattern { matcher, negated });
        }
        Ok(set)
    }

    /// Reads `.dockerignore`-style text (a UTF-8 BOM on the first line is ignored).
    pub fn from_ignore_file(text: &str) -> Result<Self, PatternError> {
        Self::new(text.trim_start_matches('\u{feff}').lines())
    }

    /// True when no pattern was given: nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern re-includes paths (`!x`); walkers must then descend into
    /// excluded directories, because something below them may be included again.
    pub fn has_negations(&self) -> bool {
        self.has_negations
    }

    /// Whether a context-relative path (`a/b/c`, no leading `/`) is excluded.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./").trim_matches('/');
        let mut excluded = false;
        for pattern in &self.patterns {
            // A pattern can only flip the current answer: skip those that would not change it.
            if pattern.negated != excluded {
                continue;
            }
            if matches_self_or_parent(&pattern.matcher, path) {
                excluded = !pattern.negated;
            }
        }
        excluded
    }
}

/// A pattern matching `a/b` also matches `a/b/c`: docker checks every parent of the path.
fn matches_self_or_parent(matcher: &GlobMatcher, path: &str) -> bool {
    if matcher.is_match(path) {
        return true;
    }
    path.match_indices('/')
        .any(|(index, _)| matcher.is_match(&path[..index]))
}

/// `filepath.Clean` for patterns, then a leading `/` dropped: patterns are context-relative.
fn clean_pattern(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !pattern.starts_with('/') {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(lines: &[&str]) -> PatternSet {
        PatternSet::new(lines.iter().copied()).unwrap()
    }

    #[test]
    fn star_does_not_cross_directories() {
        let s = set(&["*.txt"]);
        assert!(s.is_excluded("a.txt"));
        assert!(!s.is_excluded("dir/a.txt"));
    }

    #[test]
    fn double_star_crosses_any_depth_including_none() {
        let s = set(&["**/*.log"]);
        assert!(s.is_excluded("x.log"));
        assert!(s.is_excluded("a/b/x.log"));
        assert!(!s.is_excluded("a/b/x.txt"));
    }

    #[test]
    fn a_matched_directory_excludes_its_contents() {
        let s = set(&["node_modules"]);
        assert!(s.is_excluded("node_modules/left-pad/index.js"));
        assert!(!s.is_excluded("src/node_modules_backup"));
    }

    #[test]
    fn exceptions_re_include_and_the_last_match_wins() {
        let s = set(&["*.md", "!README.md", "README*.md"]);
        assert!(s.is_excluded("CHANGES.md"));
        assert!(s.is_excluded("README.md"));
        let s = set(&["*", "!app/", "app/secret"]);
        assert!(!s.is_excluded("app/main.sh"));
        assert!(s.is_excluded("app/secret"));
        assert!(s.is_excluded("Dockerfile"));
        assert!(s.has_negations());
    }

    #[test]
    fn patterns_are_cleaned_and_context_relative() {
        let s = set(&["/build/../dist/", "./tmp"]);
        assert!(s.is_excluded("dist/a.js"));
        assert!(s.is_excluded("tmp"));
        assert!(!s.is_excluded("build/x"));
    }

    #[test]
    fn comments_blank_lines_and_bom_are_ignored() {
        let s = PatternSet::from_ignore_file("\u{feff}# comment\n\n  secret.key  \n").unwrap();
        assert!(s.is_excluded("secret.key"));
        assert!(!s.is_excluded("# comment"));
    }

    #[test]
    fn question_mark_and_classes() {
        let s = set(&["file?.[ch]"]);
        assert!(s.is_excluded("file1.c"));
        assert!(s.is_excluded("file2.h"));
        assert!(!s.is_excluded("file10.c"));
    }

    #[test]
    fn a_broken_pattern_is_an_error_naming_it() {
        let err = PatternSet::new(["[unclosed"]).unwrap_err();
        assert!(err.to_string().contains("[unclosed"), "{err}");
    }
}
