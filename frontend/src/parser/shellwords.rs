//! The word splitting BuildKit's parser uses to find here-documents: its shell lexer with an
//! empty environment, unset variables kept as written, and optionally quotes and escapes kept
//! in the words ("raw"). It never expands anything; [`crate::shell`] is the real lexer the later
//! layers expand words with.
//!
//! BuildKit always uses `\` here, whatever `# escape=` says.

/// Splits `text` into words. `raw_quotes` keeps quote characters in the words, `raw_escapes`
/// keeps backslashes. `None` when the text does not lex (an unterminated quote or `${`), in
/// which case BuildKit finds no heredocs on the line.
pub fn split(text: &str, raw_quotes: bool, raw_escapes: bool) -> Option<Vec<String>> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        raw_quotes,
        raw_escapes,
    };
    lexer.process(None).map(|(_, words)| words)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
}

/// Word accumulation as BuildKit's `wordsStruct`: empty words are dropped, text coming from a
/// variable is split at blanks, quoted text never is.
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

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += 1;
        Some(ch)
    }

    /// Processes up to `stop` (consumed) or the end; returns the text and its words.
    fn process(&mut self, stop: Option<char>) -> Option<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Some((result, words.finish()));
            }
            match ch {
                '\'' | '"' => {
                    let quoted = if ch == '\'' {
                        self.single_quote()?
                    } else {
                        self.double_quote()?
                    };
                    result.push_str(&quoted);
                    words.add_raw_string(&quoted);
                }
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    words.add_string(&text);
                }
                '\\' => {
                    self.pos += 1;
                    if self.raw_escapes {
                        words.add_raw_char('\\');
                        result.push('\\');
                    }
                    let Some(escaped) = self.next() else { break };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                }
                _ => {
                    self.pos += 1;
                    words.add_char(ch);
                    result.push(ch);
                }
            }
        }
        if stop.is_some() {
            return None;
        }
        Some((result, words.finish()))
    }

    fn single_quote(&mut self) -> Option<String> {
        self.pos += 1;
        let mut result = String::new();
        if self.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next()? {
                '\'' => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Some(result);
                }
                ch => result.push(ch),
            }
        }
    }

    fn double_quote(&mut self) -> Option<String> {
        self.pos += 1;
        let mut result = String::new();
        if self.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek()? {
                '"' => {
                    self.pos += 1;
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Some(result);
                }
                '$' => result.push_str(&self.dollar()?),
                _ => {
                    let mut ch = self.next()?;
                    if ch == '\\' {
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | '\\') => {
                                if self.raw_escapes {
                                    result.push('\\');
                                }
                                ch = self.next()?;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// A variable reference, reproduced as written (the environment is empty and unset
    /// variables are kept).
    fn dollar(&mut self) -> Option<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Some(format!("${name}"));
        }
        self.pos += 1;
        if matches!(self.peek(), None | Some('{' | '}' | ':')) {
            return None;
        }
        let name = self.name();
        match self.next()? {
            '}' => Some(format!("${{{name}}}")),
            ':' => {
                let modifier = self.next()?;
                let (word, _) = self.process(Some('}'))?;
                Some(format!("${{{name}:{modifier}{word}}}"))
            }
            op @ ('?' | '-' | '+' | '#' | '%' | '/') => {
                let (word, _) = self.process(Some('}'))?;
                Some(format!("${{{name}{op}{word}}}"))
            }
            _ => None,
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    fn raw(text: &str) -> Vec<String> {
        split(text, true, true).unwrap()
    }

    #[test]
    fn raw_words_keep_quotes_and_escapes() {
        assert_eq!(
            raw(r#"RUN cat <<"EOF" 'a b' c\ d $X ${Y:-z}"#),
            ["RUN", "cat", "<<\"EOF\"", "'a b'", "c\\ d", "$X", "${Y:-z}"]
        );
        assert_eq!(raw(r#"a"b\"c"d"#), [r#"a"b\"c"d"#]);
    }

    #[test]
    fn cooked_words_lose_them_and_errors_give_none() {
        assert_eq!(split(r#""E O"F"#, false, false).unwrap(), ["E OF"]);
        assert_eq!(split(r"\EOF", false, false).unwrap(), ["EOF"]);
        assert_eq!(split(r#""""#, false, false).unwrap(), Vec::<String>::new());
        assert_eq!(split("echo 'open", true, true), None);
        assert_eq!(split("echo ${", true, true), None);
    }
}
