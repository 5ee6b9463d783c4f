//! Word splitting alongside expansion (BuildKit's `wordsStruct`): empty words are dropped,
//! text that came from a variable is split at blanks, quoted or escaped text never is.

/// Accumulates the split words alongside the single-string result.
#[derive(Default)]
pub(super) struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    /// An unquoted character: blanks end the current word.
    pub(super) fn add_char(&mut self, ch: char) {
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
    pub(super) fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    pub(super) fn add_string(&mut self, text: &str) {
        text.chars().for_each(|c| self.add_char(c));
    }

    pub(super) fn add_raw_string(&mut self, text: &str) {
        self.word.push_str(text);
        self.in_word = true;
    }

    pub(super) fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}
