//! "Did you mean" for misspelled instruction names.

/// Every instruction keyword BuildKit knows, upper-case.
pub const KEYWORDS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// The nearest keyword to `word` when it is close enough to be a typo.
pub fn nearest_keyword(word: &str) -> Option<&'static str> {
    let upper = word.to_uppercase();
    KEYWORDS
        .iter()
        .map(|k| (levenshtein(&upper, k), *k))
        .filter(|(distance, keyword)| *distance <= (keyword.len() / 3).max(1))
        .min()
        .map(|(_, keyword)| keyword)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_keyword_and_nonsense_gets_none() {
        assert_eq!(nearest_keyword("RUNN"), Some("RUN"));
        assert_eq!(nearest_keyword("copt"), Some("COPY"));
        assert_eq!(nearest_keyword("ENTRYPINT"), Some("ENTRYPOINT"));
        assert_eq!(nearest_keyword("BANANA"), None);
    }
}
