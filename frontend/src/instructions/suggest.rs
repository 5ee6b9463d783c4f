//! "Did you mean" for misspelled instruction and flag names.

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

/// The nearest keyword to `word` when it is close enough to be a typo: at most one edit per
/// three characters (at least one), a swap of neighbours counting as one edit (`FORM`).
pub fn nearest_keyword(word: &str) -> Option<&'static str> {
    let upper = word.to_uppercase();
    KEYWORDS
        .iter()
        .map(|k| (distance(&upper, k), *k))
        .filter(|(distance, _)| *distance <= (upper.chars().count() / 3).max(1))
        .min()
        .map(|(_, keyword)| keyword)
}

/// Edit distance with adjacent transpositions (optimal string alignment).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_keyword_and_nonsense_gets_none() {
        assert_eq!(nearest_keyword("RUNN"), Some("RUN"));
        assert_eq!(nearest_keyword("copt"), Some("COPY"));
        assert_eq!(nearest_keyword("FORM"), Some("FROM"));
        assert_eq!(nearest_keyword("ENTRYPINT"), Some("ENTRYPOINT"));
        assert_eq!(nearest_keyword("WORKDIRR"), Some("WORKDIR"));
        assert_eq!(nearest_keyword("BANANA"), None);
        assert_eq!(nearest_keyword("X"), None);
    }
}
