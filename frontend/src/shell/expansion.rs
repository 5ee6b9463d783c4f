//! The scan of one word: quotes, escapes and `$` substitutions (BuildKit's `shellWord`).

use std::collections::BTreeSet;

use super::pattern;
use super::words::Words;
use super::{Expansion, Lexer, Vars};

/// Expands `word` with `lexer`'s options; the error is the reason, without the word.
pub(super) fn process(lexer: Lexer, word: &str, vars: &dyn Vars) -> Result<Expansion, String> {
    let mut state = State {
        chars: word.chars().collect(),
        pos: 0,
        lexer,
        raw_escapes: lexer.raw_escapes,
        vars,
        matched: BTreeSet::new(),
        unmatched: BTreeSet::new(),
    };
    let (result, words) = state.process_until(None, lexer.raw_escapes)?;
    Ok(Expansion {
        result,
        words,
        matched: state.matched,
        unmatched: state.unmatched,
    })
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
