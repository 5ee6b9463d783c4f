//! The `Field: value` text formats package databases share: Debian control paragraphs (dpkg's
//! status) and the email-style headers of Python's `METADATA`/`PKG-INFO`.
//!
//! Both continue a value on lines that start with a space or a tab and separate records with
//! a blank line. Lines that fit neither (no colon, a continuation before any field) are
//! skipped: the input comes from an untrusted image and a bad line must not hide the rest.

/// One record: its fields in order, names as written, values with continuation lines joined
/// by `\n` (trailing whitespace trimmed).
pub(crate) type Paragraph = Vec<(String, String)>;

/// Splits text into paragraphs separated by blank lines.
pub(crate) fn paragraphs(text: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current: Paragraph = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        push_line(&mut current, line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The header block of an email-style file: the fields before the first blank line (the
/// body after it, a long description, is not read).
pub(crate) fn headers(text: &str) -> Paragraph {
    let mut fields = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        push_line(&mut fields, line);
    }
    fields
}

/// The first value of a field, compared without regard to case (`Home-page` / `Home-Page`).
pub(crate) fn field<'a>(paragraph: &'a Paragraph, name: &str) -> Option<&'a str> {
    paragraph
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
}

/// Every value of a field (Python's `Project-URL` and `Classifier` repeat).
pub(crate) fn fields<'a>(paragraph: &'a Paragraph, name: &'a str) -> impl Iterator<Item = &'a str> {
    paragraph
        .iter()
        .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn push_line(fields: &mut Paragraph, line: &str) {
    if line.starts_with([' ', '\t']) {
        if let Some((_, value)) = fields.last_mut() {
            value.push('\n');
            value.push_str(line.trim());
        }
        return;
    }
    if let Some((key, value)) = line.split_once(':') {
        let key = key.trim();
        if !key.is_empty() && !key.contains(char::is_whitespace) {
            fields.push((key.to_string(), value.trim().to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_join_and_junk_lines_are_skipped() {
        let text = "Package: a\nDescription: short\n more\n\tand more\nno colon here\n\n\n Stray\nPackage: b\n";
        let paragraphs = paragraphs(text);
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(
            field(&paragraphs[0], "description"),
            Some("short\nmore\nand more")
        );
        assert_eq!(paragraphs[0].len(), 2);
        assert_eq!(field(&paragraphs[1], "Package"), Some("b"));
    }

    #[test]
    fn headers_stop_at_the_body() {
        let text = "Name: x\nVersion: 1\n\nName: not-a-header\n";
        let headers = headers(text);
        assert_eq!(field(&headers, "name"), Some("x"));
        assert_eq!(headers.len(), 2);
    }
}
