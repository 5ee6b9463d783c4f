//! One CSV record as Go's `encoding/csv` reads it — the syntax of `RUN --mount` specs and of
//! buildx's `--cache-to`/`--cache-from` specs: commas separate fields, a field may be quoted
//! (`"a,b"`, with `""` for a quote), and a quote anywhere else is an error.

/// Splits `text` into its fields. The error is Go's reason, e.g.
/// `bare " in non-quoted-field`.
pub fn csv_record(text: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("extraneous or missing \" in quoted-field"),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("extraneous or missing \" in quoted-field");
            }
        } else {
            while let Some(&c) = chars.peek().filter(|c| **c != ',') {
                if c == '"' {
                    return Err("bare \" in non-quoted-field");
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_protect_commas_and_stray_quotes_are_errors() {
        assert_eq!(csv_record("a=1,\"b=2,3\",").unwrap(), ["a=1", "b=2,3", ""]);
        assert_eq!(csv_record("\"say \"\"hi\"\"\"").unwrap(), ["say \"hi\""]);
        assert_eq!(
            csv_record("a=\"x\"").unwrap_err(),
            "bare \" in non-quoted-field"
        );
        assert_eq!(
            csv_record("\"a\"b").unwrap_err(),
            "extraneous or missing \" in quoted-field"
        );
        assert_eq!(
            csv_record("\"open").unwrap_err(),
            "extraneous or missing \" in quoted-field"
        );
    }
}
