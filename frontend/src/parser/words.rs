//! Word-level helpers of the AST parser, following BuildKit's `line_parsers.go`: splitting the
//! keyword from the rest, taking leading `--flags`, and splitting words while keeping quotes.

/// Whitespace as BuildKit's `reWhitespace` (`[\t\v\f\r ]+`).
pub fn is_blank(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits `KEYWORD rest` at the first run of whitespace (after trimming the line).
pub fn split_keyword(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(is_blank) {
        Some(at) => (&line[..at], line[at..].trim_start_matches(is_blank)),
        None => (line, ""),
    }
}

/// Takes the leading `--flag` words off `rest`; returns the flags (quotes removed, escapes
/// applied) and what follows. A bare `--` ends the flags and is dropped.
pub fn extract_flags(rest: &str) -> (Vec<String>, String) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut pos = 0;
    let remainder = |pos: usize| chars[pos..].iter().collect::<String>();
    loop {
        let at_end = pos >= chars.len();
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            let ch = chars[pos];
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || chars.get(pos + 1) != Some(&'-') {
                return (flags, remainder(pos));
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            break;
        }
        let mut ch = chars[pos];
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (flags, remainder(pos));
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    pos += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    pos += 1;
                    continue;
                }
                if ch == '\\' {
                    if pos + 1 == chars.len() {
                        pos += 1;
                        continue;
                    }
                    pos += 1;
                    ch = chars[pos];
                }
                word.push(ch);
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                    pos += 1;
                    continue;
                }
                if ch == '\\' {
                    if pos + 1 == chars.len() {
                        phase = Phase::Word;
                        pos += 1;
                        continue;
                    }
                    pos += 1;
                    ch = chars[pos];
                }
                word.push(ch);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
        pos += 1;
    }
    (flags, String::new())
}

/// Splits at unquoted whitespace, keeping quotes and escape characters in the words (BuildKit's
/// `parseWords`, used for ENV, LABEL and ARG).
pub fn split_words_keeping_quotes(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut pos = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        if !in_word {
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if ch.is_whitespace() {
                    in_word = false;
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    pos += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if pos + 1 == chars.len() {
                        pos += 1;
                        continue;
                    }
                    word.push(ch);
                    pos += 1;
                    word.push(chars[pos]);
                    pos += 1;
                    continue;
                }
                word.push(ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                    word.push(ch);
                    pos += 1;
                    continue;
                }
                if ch == escape && q != '\'' {
                    if pos + 1 == chars.len() {
                        quote = None;
                        pos += 1;
                        continue;
                    }
                    word.push(ch);
                    pos += 1;
                }
                word.push(chars[pos]);
            }
        }
        pos += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Splits at runs of BuildKit whitespace, as Go's `regexp.Split(rest, -1)` does.
pub fn split_blank(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if is_blank(c) {
            while chars.peek().is_some_and(|&n| is_blank(n)) {
                chars.next();
            }
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_lose_quotes_and_stop_at_double_dash() {
        assert_eq!(
            extract_flags(r#"--chown="a b" --link src dst"#),
            (
                vec!["--chown=a b".to_string(), "--link".into()],
                "src dst".into()
            )
        );
        assert_eq!(
            extract_flags("--doit=true -- foo /tmp/"),
            (vec!["--doit=true".to_string()], " foo /tmp/".into())
        );
        assert_eq!(extract_flags("-x y"), (vec![], "-x y".into()));
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            split_words_keeping_quotes(r#"a="b c" d\ e 'f\'"#, '\\'),
            vec![r#"a="b c""#, r"d\ e", r"'f\'"]
        );
    }
}
