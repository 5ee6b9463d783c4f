//! Finding here-documents on a RUN/COPY/ADD line (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`).
//! The line is split into shell words (quotes kept) and each word is tested against BuildKit's
//! `^(\d*)<<(-?)([^<]*)$`.

use crate::ast::Heredoc;

/// The here-documents a line announces, in order, with empty bodies.
pub fn heredocs_in(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut docs = Vec::new();
    for word in heredoc_words(line) {
        let digits = word.chars().take_while(char::is_ascii_digit).count();
        let Some(rest) = word[digits..].strip_prefix("<<") else {
            continue;
        };
        let (chomp, rest) = match rest.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        if rest.is_empty() || rest.contains('<') {
            continue;
        }
        let quoted = rest.contains(['"', '\'']);
        let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
        if name.is_empty() {
            return Err(format!("invalid heredoc delimiter in {word:?}"));
        }
        let fd = if digits == 0 {
            0
        } else {
            word[..digits]
                .parse()
                .map_err(|_| format!("invalid heredoc file descriptor in {word:?}"))?
        };
        docs.push(Heredoc {
            name,
            content: String::new(),
            expand: !quoted,
            chomp,
            fd,
        });
    }
    Ok(docs)
}

/// Splits a line into shell words, keeping quotes, so that `"<<EOF"` (quoted) is one word
/// that is not a heredoc marker and `<<'EOF'` is.
pub fn heredoc_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    }
                }
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                word.push(c);
                if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == '\\' {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    }
                }
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}
