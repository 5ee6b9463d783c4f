//! Variable expansion and word splitting as BuildKit's shell lexer (`shell/lex.go`) does them
//! for Dockerfile instructions.
//!
//! Supported: `$A`, `${A}`, `${A:-x}`, `${A-x}`, `${A:+x}`, `${A+x}`, `${A:?msg}`, `${A?msg}`
//! (errors when unset, or empty for the `:` forms), `${A#p}`, `${A##p}`, `${A%p}`, `${A%%p}`
//! (shortest/longest prefix/suffix removal), `${A/p/r}` and `${A//p/r}` (first/every match),
//! single and double quotes, and the escape character (`\`, or `` ` `` after `# escape=`).
//! Patterns are BuildKit's, not bash's: `*` and `?` are wildcards, `\*`, `\?`, `\\` escape
//! them, and `[`, `]` are plain characters.
//!
//! It is the frontend's one lexer, as BuildKit has one: instructions expand words with it, and
//! the parser finds heredoc markers with it ([`NoVars`], unset references kept as written).
//!
//! This is not a shell: there is no command substitution, arithmetic or file globbing.
//! Positional and special parameters (`$1`, `$@`, `$#`, …) are looked up like any name, and
//! a Dockerfile never sets them.
//!
//! ```
//! use strata_frontend::shell::Lexer;
//! let env = vec![("NAME".to_string(), "app.tar.gz".to_string())];
//! let lexer = Lexer::new('\\');
//! assert_eq!(lexer.expand("/opt/${NAME%%.*}", &env).unwrap(), "/opt/app");
//! assert_eq!(lexer.expand_words("a \"b c\" $NAME", &env).unwrap(), ["a", "b c", "app.tar.gz"]);
//! let used = lexer.process("$NAME $MISSING", &env).unwrap();
//! assert!(used.matched.contains("NAME") && used.unmatched.contains("MISSING"));
//! ```

mod expansion;
mod lexer;
mod pattern;
mod words;

use std::collections::{BTreeMap, HashMap};

pub use lexer::{ExpandError, Expansion, Lexer};

/// Where variable values come from. Implemented for ordered pairs (the last pair of a name
/// wins, as an env list), maps, and closures.
pub trait Vars {
    /// The value of `name`, `None` when unset (set-but-empty is `Some("")`).
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

impl Vars for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Vars for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn lookup(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// No variables at all (BuildKit's `emptyEnvs`). With [`Lexer::skip_unset`] every reference
/// comes back as written, so the lexer only splits and unquotes: what heredoc detection needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoVars;

impl Vars for NoVars {
    fn lookup(&self, _name: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests;
