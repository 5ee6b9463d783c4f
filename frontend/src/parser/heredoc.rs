//! Finding here-documents on a RUN/COPY/ADD line (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), as
//! BuildKit does: the line is split into shell words with quotes and escapes kept, and each
//! word is matched against `^(\d*)<<(-?)([^<]*)$`; the rest must lex to exactly one word, the
//! delimiter. Bodies are read by the caller.

use super::shellwords;
use crate::ast::Heredoc;

/// The here-documents a line announces, in order, each with the word as written (to point at
/// it in errors) and an empty body. A line that does not lex announces none.
pub fn heredocs_in(line: &str) -> Result<Vec<(Heredoc, String)>, String> {
    let mut docs = Vec::new();
    for word in shellwords::split(line, true, true).unwrap_or_default() {
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
    let plain = shellwords::split(rest, false, false).ok_or_else(invalid)?;
    let [name] = plain.as_slice() else {
        return Ok(None);
    };
    let raw = shellwords::split(rest, true, false).ok_or_else(invalid)?;
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
/// heredoc markers against); empty when the line does not lex. The stage resolver uses it to
/// tell a lone `RUN <<EOF` from a command that reads heredocs.
pub fn heredoc_words(line: &str) -> Vec<String> {
    shellwords::split(line, true, true).unwrap_or_default()
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

    #[test]
    fn lines_announce_heredocs_outside_quotes_only() {
        let names = |line: &str| -> Vec<String> {
            heredocs_in(line)
                .unwrap()
                .into_iter()
                .map(|(d, _)| d.name)
                .collect()
        };
        assert_eq!(names("RUN <<A <<B"), ["A", "B"]);
        assert_eq!(names("RUN cat <<EOF > f"), ["EOF"]);
        assert_eq!(names("RUN echo \"<<EOF\" '<<X'"), Vec::<String>::new());
        assert_eq!(names("RUN cat <<EOF; echo 'open"), Vec::<String>::new());
        assert_eq!(chomp("\t\ta\n\tb\r\nc"), "a\nb\r\nc");
    }
}
