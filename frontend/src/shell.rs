//! Variable expansion and word splitting as BuildKit's shell lexer (`shell/lex.go`) does them
//! for Dockerfile instructions: `$A`, `${A}`, `${A:-x}`, `${A-x}`, `${A:+x}`, `${A+x}`,
//! `${A:?msg}`, `${A?msg}`, `${A#p}`, `${A##p}`, `${A%p}`, `${A%%p}`, `${A/p/r}`, `${A//p/r}`,
//! single and double quotes, and the escape character (`\`, or `` ` `` after `# escape=`).
//!
//! This is not a shell: there is no command substitution, arithmetic or globbing of files.
//! Positional and special parameters (`$1`, `$@`, `$#`, …) are never set in a Dockerfile.

/// Where variable values come from.
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

impl Vars for std::collections::BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn lookup(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The lexer, configured with the Dockerfile's escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer { escape: '\\' }
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

impl Lexer {
    /// A lexer using `escape` as the escape character.
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// Expands a word into one string (quotes removed, variables substituted).
    pub fn expand(&self, word: &str, vars: &dyn Vars) -> Result<String, ExpandError> {
        self.run(word, vars).map(|(single, _)| single)
    }

    /// Expands and splits into words at unquoted whitespace, as the shell would.
    pub fn expand_words(&self, word: &str, vars: &dyn Vars) -> Result<Vec<String>, ExpandError> {
        self.run(word, vars).map(|(_, words)| words)
    }

    fn run(&self, word: &str, vars: &dyn Vars) -> Result<(String, Vec<String>), ExpandError> {
        let mut state = State {
            chars: word.chars().collect(),
            pos: 0,
            escape: self.escape,
            vars,
        };
        state.process_until(None).map_err(|reason| ExpandError {
            word: word.to_string(),
            reason,
        })
    }
}

struct State<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a dyn Vars,
}

/// Accumulates the split words alongside the single-string result.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
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

    /// Processes until `stop` (consumed) or the end; `stop` not found is an error.
    fn process_until(&mut self, stop: Option<char>) -> Step<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '\'' => {
                    let text = self.single_quote()?;
                    result.push_str(&text);
                    words.add_raw_string(&text);
                }
                '"' => {
                    let text = self.double_quote()?;
                    result.push_str(&text);
                    words.add_raw_string(&text);
                }
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    words.add_string(&text);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.escape {
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
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Step<String> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => return Ok(result),
                Some(ch) => result.push(ch),
            }
        }
    }

    fn double_quote(&mut self) -> Step<String> {
        self.pos += 1;
        let mut result = String::new();
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
                    return Ok(result);
                }
                Some('$') => result.push_str(&self.dollar()?),
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
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

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(digit) = self.peek().filter(char::is_ascii_digit) {
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

    fn get(&self, name: &str) -> Option<String> {
        // Positional and special parameters are never set in a Dockerfile.
        if name.starts_with(|c: char| c.is_ascii_digit() || "@*#?-$!".contains(c)) {
            return None;
        }
        self.vars.lookup(name)
    }

    /// The word after a modifier, up to the closing `}`.
    fn modifier_word(&mut self) -> Step<String> {
        match self.process_until(Some('}')) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err("syntax error: missing '}'".into()),
            Err(err) => Err(err),
        }
    }

    fn dollar(&mut self) -> Step<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.get(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(op) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        match op {
            '}' => Ok(self.get(&name).unwrap_or_default()),
            '?' => {
                let word = self.modifier_word()?;
                match self.get(&name) {
                    Some(value) => Ok(value),
                    None => Err(unset_message(&name, &word)),
                }
            }
            '+' | '-' => {
                let word = self.modifier_word()?;
                let value = self.get(&name);
                Ok(match (op, value) {
                    ('+', Some(_)) => word,
                    ('+', None) => String::new(),
                    (_, Some(value)) => value,
                    (_, None) => word,
                })
            }
            ':' => {
                let modifier = self.next();
                let word = self.modifier_word()?;
                let value = self.get(&name).unwrap_or_default();
                match modifier {
                    Some('+') => Ok(if value.is_empty() {
                        String::new()
                    } else {
                        word
                    }),
                    Some('-') => Ok(if value.is_empty() { word } else { value }),
                    Some('?') if value.is_empty() => Err(unset_message(&name, &word)),
                    Some('?') => Ok(value),
                    Some(other) => Err(format!("unsupported modifier ({other}) in substitution")),
                    None => Err("syntax error: missing '}'".into()),
                }
            }
            '#' | '%' => {
                let longest = self.peek() == Some(op);
                if longest {
                    self.pos += 1;
                }
                let pattern: Vec<char> = self.modifier_word()?.chars().collect();
                let value: Vec<char> = self.get(&name).unwrap_or_default().chars().collect();
                Ok(trim_pattern(&value, &pattern, op == '#', longest))
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let (pattern, _) = match self.process_until(Some('/')) {
                    Ok(found) => found,
                    Err(_) => return Err("syntax error: missing '/' in substitution".into()),
                };
                let replacement = self.modifier_word()?;
                let value: Vec<char> = self.get(&name).unwrap_or_default().chars().collect();
                let pattern: Vec<char> = pattern.chars().collect();
                Ok(replace_pattern(&value, &pattern, &replacement, all))
            }
            other => Err(format!("unsupported modifier ({other}) in substitution")),
        }
    }
}

fn unset_message(name: &str, word: &str) -> String {
    if word.is_empty() {
        format!("{name}: is not allowed to be unset")
    } else {
        format!("{name}: {word}")
    }
}

/// `${A#p}` (prefix) / `${A%p}` (suffix), shortest or longest match.
fn trim_pattern(value: &[char], pattern: &[char], prefix: bool, longest: bool) -> String {
    let n = value.len();
    let mut lengths: Vec<usize> = (0..=n).collect();
    if longest {
        lengths.reverse();
    }
    for len in lengths {
        let (candidate, rest) = if prefix {
            (&value[..len], &value[len..])
        } else {
            (&value[n - len..], &value[..n - len])
        };
        if glob_match(pattern, candidate) {
            return rest.iter().collect();
        }
    }
    value.iter().collect()
}

/// `${A/p/r}` (first match) and `${A//p/r}` (every match); the longest match at the leftmost
/// position wins, as in the shell.
fn replace_pattern(value: &[char], pattern: &[char], replacement: &str, all: bool) -> String {
    let mut out = String::new();
    let mut start = 0;
    let mut replaced = false;
    while start <= value.len() {
        if replaced && !all {
            break;
        }
        let found = (start..=value.len())
            .rev()
            .find(|&end| end > start && glob_match(pattern, &value[start..end]));
        match found {
            Some(end) => {
                out.push_str(replacement);
                start = end;
                replaced = true;
            }
            None => {
                if let Some(ch) = value.get(start) {
                    out.push(*ch);
                }
                start += 1;
            }
        }
    }
    if start < value.len() {
        out.extend(&value[start..]);
    }
    out
}

/// Shell pattern matching of a whole string: `*`, `?`, `[abc]`, `[!a-z]`, `\x`.
fn glob_match(pattern: &[char], text: &[char]) -> bool {
    let Some(&first) = pattern.first() else {
        return text.is_empty();
    };
    match first {
        '*' => (0..=text.len()).any(|skip| glob_match(&pattern[1..], &text[skip..])),
        '?' => !text.is_empty() && glob_match(&pattern[1..], &text[1..]),
        '[' => match class_match(pattern, text.first().copied()) {
            Some((matched, used)) => matched && glob_match(&pattern[used..], &text[1..]),
            None => text.first() == Some(&'[') && glob_match(&pattern[1..], &text[1..]),
        },
        '\\' if pattern.len() > 1 => {
            text.first() == Some(&pattern[1]) && glob_match(&pattern[2..], &text[1..])
        }
        literal => text.first() == Some(&literal) && glob_match(&pattern[1..], &text[1..]),
    }
}

/// Matches a `[...]` class at the start of `pattern`; returns (matched, pattern chars used), or
/// `None` when the class is not closed (then `[` is literal).
fn class_match(pattern: &[char], ch: Option<char>) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while let Some(&c) = pattern.get(i) {
        if c == ']' && !first {
            let ok = ch.is_some() && (matched != negated);
            return Some((ok, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&e| e != ']') {
            let end = pattern[i + 2];
            if ch.is_some_and(|x| c <= x && x <= end) {
                matched = true;
            }
            i += 3;
        } else {
            if ch == Some(c) {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        [
            ("FILE", "dir/sub/name.tar.gz"),
            ("EMPTY", ""),
            ("V", "1.2.3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn x(word: &str) -> String {
        Lexer::default().expand(word, &vars()).unwrap()
    }

    #[test]
    fn prefix_and_suffix_removal() {
        assert_eq!(x("${FILE#*/}"), "sub/name.tar.gz");
        assert_eq!(x("${FILE##*/}"), "name.tar.gz");
        assert_eq!(x("${FILE%.*}"), "dir/sub/name.tar");
        assert_eq!(x("${FILE%%.*}"), "dir/sub/name");
        assert_eq!(x("${FILE#nomatch}"), "dir/sub/name.tar.gz");
        assert_eq!(x("${UNSET#x}"), "");
    }

    #[test]
    fn pattern_replacement() {
        assert_eq!(x("${V/./-}"), "1-2.3");
        assert_eq!(x("${V//./-}"), "1-2-3");
        assert_eq!(x("${V//[0-9]/n}"), "n.n.n");
        assert_eq!(x("${FILE/*\\//}"), "name.tar.gz");
    }

    #[test]
    fn unset_and_empty_defaults() {
        assert_eq!(x("${EMPTY-d}"), "");
        assert_eq!(x("${EMPTY:-d}"), "d");
        assert_eq!(x("${UNSET+a}${EMPTY+b}"), "b");
        let err = Lexer::default()
            .expand("${UNSET:?need it}", &vars())
            .unwrap_err();
        assert_eq!(err.reason, "UNSET: need it");
    }

    #[test]
    fn backtick_escape() {
        let lexer = Lexer::new('`');
        assert_eq!(
            lexer.expand(r"C:\path `$V", &vars()).unwrap(),
            r"C:\path $V"
        );
    }
}
