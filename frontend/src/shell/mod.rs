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

mod pattern;

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// The lexer: the Dockerfile's escape character plus BuildKit's processing switches. The
/// defaults are what instructions use; the switches serve progress names and heredocs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_quotes: bool,
    skip_unset: bool,
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
        let mut state = State {
            chars: word.chars().collect(),
            pos: 0,
            lexer: *self,
            raw_escapes: self.raw_escapes,
            vars,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match state.process_until(None, self.raw_escapes) {
            Ok((result, words)) => Ok(Expansion {
                result,
                words,
                matched: state.matched,
                unmatched: state.unmatched,
            }),
            Err(reason) => Err(ExpandError {
                word: word.to_string(),
                reason,
            }),
        }
    }
}

/// The scan of one word.
struct State<'a> {
    chars: Vec<char>,
    pos: usize,
    lexer: Lexer,
    /// Whether escape characters are kept right now (patterns keep them, see `dollar`).
    raw_escapes: bool,
    vars: &'a dyn Vars,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

/// Accumulates the split words alongside the single-string result.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    /// An unquoted character: blanks end the current word.
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    /// A quoted or escaped character: always part of the word.
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, text: &str) {
        text.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, text: &str) {
        self.word.push_str(text);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

type Step<T> = Result<T, String>;

const MISSING_BRACE: &str = "syntax error: missing '}'";

impl State<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Processes until `stop` (consumed) or the end; `stop` not found is an error. `raw`
    /// keeps escape characters for the duration (pattern words need them).
    fn process_until(&mut self, stop: Option<char>, raw: bool) -> Step<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw);
        let result = self.process_until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn process_until_inner(&mut self, stop: Option<char>) -> Step<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        let quotes = !self.lexer.skip_quotes;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    words.add_string(&text);
                }
                '\'' if quotes => {
                    let text = self.single_quote()?;
                    result.push_str(&text);
                    words.add_raw_string(&text);
                }
                '"' if quotes => {
                    let text = self.double_quote()?;
                    result.push_str(&text);
                    words.add_raw_string(&text);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // The escape character quotes the next one; at the end it vanishes.
                        let Some(escaped) = self.next() else {
                            break;
                        };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    /// `'…'`: everything literal up to the next `'` (which cannot be escaped).
    fn single_quote(&mut self) -> Step<String> {
        self.pos += 1;
        let mut result = String::new();
        if self.lexer.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    /// `"…"`: literal except `$` expansions; the escape character escapes only `"`, `$`
    /// and itself, and stays otherwise.
    fn double_quote(&mut self) -> Step<String> {
        self.pos += 1;
        let mut result = String::new();
        if self.lexer.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => result.push_str(&self.dollar()?),
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // A lone escape at the end is dropped; the loop then reports
                            // the missing quote.
                            None => continue,
                            Some(next)
                                if next == '"' || next == '$' || next == self.lexer.escape =>
                            {
                                ch = next;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// A variable name: letters, digits and `_`; a leading digit run or one special
    /// parameter character is a whole name.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(digit) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!0".contains(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    /// Looks a name up, remembering whether it was set.
    fn get(&mut self, name: &str) -> Option<String> {
        let value = self.vars.lookup(name);
        if value.is_some() {
            self.matched.insert(name.to_string());
        } else {
            self.unmatched.insert(name.to_string());
        }
        value
    }

    /// The word after a modifier, up to the closing `}`.
    fn modifier_word(&mut self, raw: bool) -> Step<String> {
        match self.process_until(Some('}'), raw) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(MISSING_BRACE.into()),
            Err(err) => Err(err),
        }
    }

    /// `$…` at the current position.
    fn dollar(&mut self) -> Step<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(MISSING_BRACE.into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut op) = self.next() else {
            return Err(MISSING_BRACE.into());
        };
        let mut written = op.to_string();
        match op {
            '}' => Ok(match self.get(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            '/' => self.replace(&name),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = op == ':';
                if null_is_unset {
                    // `${A:` + one of `-+?`; anything else (or nothing) is checked below,
                    // after the word, as BuildKit does.
                    op = self.next().unwrap_or('\u{fffd}');
                    written.push(op);
                }
                let word = self.modifier_word(op == '#' || op == '%')?;
                let value = self.get(&name);
                if value.is_none() && self.lexer.skip_unset {
                    return Ok(format!("${{{name}{written}{word}}}"));
                }
                let is_unset = match &value {
                    None => true,
                    Some(v) => null_is_unset && v.is_empty(),
                };
                match op {
                    '-' if is_unset => Ok(word),
                    '-' => Ok(value.unwrap_or_default()),
                    '+' if is_unset => Ok(String::new()),
                    '+' => Ok(word),
                    '?' => match value {
                        None => Err(required_message(&name, &word, "unset")),
                        Some(v) if null_is_unset && v.is_empty() => {
                            Err(required_message(&name, &word, "empty"))
                        }
                        Some(v) => Ok(v),
                    },
                    '#' | '%' => {
                        // `##`/`%%` is seen in the processed word, as in BuildKit.
                        let (longest, pattern) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        let value = value.unwrap_or_default();
                        let trimmed = if op == '#' {
                            pattern::trim_prefix(pattern, &value, longest)
                        } else {
                            pattern::trim_suffix(pattern, &value, longest)
                        };
                        trimmed.map_err(|why| bad_pattern(pattern, &why))
                    }
                    _ => Err(format!("unsupported modifier ({written}) in substitution")),
                }
            }
            _ => Err(format!("unsupported modifier ({written}) in substitution")),
        }
    }

    /// `${A/p/r}` and `${A//p/r}`, the first `/` consumed. Pattern and replacement keep their
    /// escape characters (`\/` is how a pattern matches a slash).
    fn replace(&mut self, name: &str) -> Step<String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = match self.process_until(Some('/'), true) {
            Ok((pattern, _)) => pattern,
            Err(_) if self.peek().is_none() => {
                return Err("syntax error: missing '/' in ${}".into())
            }
            Err(err) => return Err(err),
        };
        let replacement = self.modifier_word(true)?;
        let value = self.get(name);
        let Some(value) = value.or_else(|| (!self.lexer.skip_unset).then(String::new)) else {
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        };
        pattern::replace(&pattern, &value, &replacement, all)
            .map_err(|why| bad_pattern(&pattern, &why))
    }
}

fn required_message(name: &str, word: &str, what: &str) -> String {
    if word.is_empty() {
        format!("{name}: is not allowed to be {what}")
    } else {
        format!("{name}: {word}")
    }
}

fn bad_pattern(pattern: &str, why: &str) -> String {
    format!("invalid pattern ({pattern}) in substitution: {why}")
}

#[cfg(test)]
mod tests;
