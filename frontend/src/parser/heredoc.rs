//! Finding here-documents on a RUN/COPY/ADD line (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), as
//! BuildKit does: the line is split into shell words with quotes and escapes kept, and each
//! word is matched against `^(\d*)<<(-?)([^<]*)$`; the rest must lex to exactly one word, the
//! delimiter. Bodies are read by the caller.
//!
//! The words come from the shell lexer that expands instructions ([`crate::shell`]), set up as
//! BuildKit's parser sets up its one lexer here: `\` as the escape character whatever
//! `# escape=` says, no variables, and unset references kept as written, so nothing is
//! expanded.

use crate::ast::Heredoc;
use crate::shell::{Lexer, NoVars};

/// The lexer for heredoc words; `raw_quotes`/`raw_escapes` say whether quote and escape
/// characters stay in the words.
fn heredoc_lexer(raw_quotes: bool, raw_escapes: bool) -> Lexer {
    Lexer::new('\\')
        .raw_quotes(raw_quotes)
        .raw_escapes(raw_escapes)
        .skip_unset(true)
}

/// Splits `text` into words with `lexer`; `None` when the text does not lex (an unterminated
/// quote or `${`), in which case BuildKit finds no heredocs in it.
fn split(text: &str, lexer: Lexer) -> Option<Vec<String>> {
    lexer.expand_words(text, &NoVars).ok()
}

/// The here-documents a line announces, in order, each with the word as written (to point at
/// it in errors) and an empty body. A line that does not lex announces none.
pub fn heredocs_in(line: &str) -> Result<Vec<(Heredoc, String)>, String> {
    let mut docs = Vec::new();
    for word in split(line, heredoc_lexer(true, true)).unwrap_or_default() {
        if let Some(doc) = parse_heredoc_word(&word)? {
            docs.push((doc, word));
        }
    }
    Ok(docs)
}

/// Reads one word as a heredoc marker (BuildKit's `ParseHeredoc`): `Ok(None)` when it is not
/// one (`<<<`, `<<""`, `a<<EOF`, a delimiter of several words). The body is left empty.
pub fn parse_heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let invalid = || format!("invalid heredoc delimiter {rest:?}");
    let plain = split(rest, heredoc_lexer(false, false)).ok_or_else(invalid)?;
    let [name] = plain.as_slice() else {
        return Ok(None);
    };
    let raw = split(rest, heredoc_lexer(true, false)).ok_or_else(invalid)?;
    let [raw_name] = raw.as_slice() else {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    };
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == quotes(raw_name),
        chomp,
        // Go's ParseUint error (overflow) leaves 0, as here.
        fd: word[..digits].parse().unwrap_or(0),
    }))
}

/// Splits a line into shell words with quotes and escapes kept (the words BuildKit matches
/// heredoc markers against); empty when the line does not lex.
pub fn heredoc_words(line: &str) -> Vec<String> {
    split(line, heredoc_lexer(true, true)).unwrap_or_default()
}

/// Removes leading tabs from every line, for `<<-` (BuildKit's `ChompHeredocContent`).
pub fn chomp(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(word: &str) -> Option<(String, bool, bool, u32)> {
        parse_heredoc_word(word)
            .unwrap()
            .map(|d| (d.name, d.expand, d.chomp, d.fd))
    }

    #[test]
    fn markers_follow_buildkit() {
        assert_eq!(doc("<<EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(doc("<<-'EOF'"), Some(("EOF".into(), false, true, 0)));
        assert_eq!(doc("3<<\"X\""), Some(("X".into(), false, false, 3)));
        assert_eq!(doc("<<E\"O\"F"), Some(("EOF".into(), false, false, 0)));
        // An escaped delimiter is not "quoted" for BuildKit: the body is expanded.
        assert_eq!(doc("<<\\EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(doc("<<<EOF"), None);
        assert_eq!(doc("<<\"\""), None);
        assert_eq!(doc("<<"), None);
        assert_eq!(doc("a<<EOF"), None);
        assert_eq!(doc("<<EOF>f"), Some(("EOF>f".into(), true, false, 0)));
    }

    fn names(line: &str) -> Vec<String> {
        heredocs_in(line)
            .unwrap()
            .into_iter()
            .map(|(d, _)| d.name)
            .collect()
    }

    fn raw(text: &str) -> Vec<String> {
        split(text, heredoc_lexer(true, true)).unwrap()
    }

    #[test]
    fn raw_words_keep_quotes_and_escapes() {
        assert_eq!(
            raw(r#"RUN cat <<"EOF" 'a b' c\ d $X ${Y:-z}"#),
            ["RUN", "cat", "<<\"EOF\"", "'a b'", "c\\ d", "$X", "${Y:-z}"]
        );
        assert_eq!(raw(r#"a"b\"c"d"#), [r#"a"b\"c"d"#]);
        assert_eq!(heredoc_words("RUN <<EOF $A"), ["RUN", "<<EOF", "$A"]);
    }

    #[test]
    fn cooked_words_lose_them_and_errors_give_none() {
        let cooked = heredoc_lexer(false, false);
        assert_eq!(split(r#""E O"F"#, cooked).unwrap(), ["E OF"]);
        assert_eq!(split(r"\EOF", cooked).unwrap(), ["EOF"]);
        assert_eq!(split(r#""""#, cooked).unwrap(), Vec::<String>::new());
        assert_eq!(split("echo 'open", heredoc_lexer(true, true)), None);
        assert_eq!(split("echo ${", heredoc_lexer(true, true)), None);
    }

    /// Where BuildKit's lexer (`shell/lex.go`) is odd, its heredoc detection is odd with it,
    /// being the same lexer; so is ours.
    #[test]
    fn raw_words_are_what_buildkits_lexer_gives() {
        // In double quotes a kept escape before an ordinary character is written twice (once
        // as the kept escape, once as the character it fails to escape)…
        assert_eq!(raw(r#"<<"E\OF""#), [r#"<<"E\\OF""#]);
        // …and the delimiter still reads as the shell reads it.
        assert_eq!(names(r#"RUN cat <<"E\OF""#), [r"E\OF"]);
        // Only pattern words keep their escapes; `${A//p/r}` comes back with one slash.
        assert_eq!(raw(r"${A:-\x} ${A%\x}"), [r"${A:-x}", r"${A%\x}"]);
        assert_eq!(raw("${A//p/r}"), ["${A/p/r}"]);
        // `${A/p}` lacks its second slash: the line does not lex and announces no heredocs.
        assert_eq!(names("RUN cat <<EOF ${A/p}"), Vec::<String>::new());
        assert_eq!(names("RUN cat <<EOF ${A/p/}"), ["EOF"]);
    }

    #[test]
    fn lines_announce_heredocs_outside_quotes_only() {
        assert_eq!(names("RUN <<A <<B"), ["A", "B"]);
        assert_eq!(names("RUN cat <<EOF > f"), ["EOF"]);
        assert_eq!(names("RUN echo \"<<EOF\" '<<X'"), Vec::<String>::new());
        assert_eq!(names("RUN cat <<EOF; echo 'open"), Vec::<String>::new());
        assert_eq!(chomp("\t\ta\n\tb\r\nc"), "a\nb\r\nc");
    }
}
