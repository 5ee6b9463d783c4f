//! Comparing docker's image with strata's, and the `expected-differences` lists.

use std::fmt;

use serde_json::Value;

use super::image::{Entry, Image};

/// One way the two images differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `config.<Field>`, `os`, `architecture`, or an absolute path.
    pub key: String,
    /// What differs, docker's value then strata's.
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.detail)
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(unset)".to_string(), Value::to_string)
}

/// Every difference between docker's image and strata's, config first, then paths in order.
pub fn compare(docker: &Image, strata: &Image) -> Vec<Difference> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> =
        docker.config.keys().chain(strata.config.keys()).collect();
    for key in keys {
        let (d, s) = (docker.config.get(key), strata.config.get(key));
        if d != s {
            out.push(Difference {
                key: key.clone(),
                detail: format!("docker {} | strata {}", show(d), show(s)),
            });
        }
    }
    let paths: std::collections::BTreeSet<&String> =
        docker.files.keys().chain(strata.files.keys()).collect();
    for path in paths {
        let detail = match (docker.files.get(path), strata.files.get(path)) {
            (Some(d), Some(s)) if d == s => continue,
            (Some(d), Some(s)) => entry_fields(d, s),
            (Some(d), None) => format!("only in docker ({d})"),
            (None, Some(s)) => format!("only in strata ({s})"),
            (None, None) => unreachable!("the path came from one of the two maps"),
        };
        out.push(Difference {
            key: path.clone(),
            detail,
        });
    }
    out
}

/// `mode docker 0644 | strata 0600; uid …` for the fields that differ.
fn entry_fields(d: &Entry, s: &Entry) -> String {
    let mut parts = Vec::new();
    if d.kind != s.kind {
        parts.push(format!("type docker {:?} | strata {:?}", d.kind, s.kind));
    }
    if d.mode != s.mode {
        parts.push(format!(
            "mode docker {:04o} | strata {:04o}",
            d.mode, s.mode
        ));
    }
    if d.uid != s.uid {
        parts.push(format!("uid docker {} | strata {}", d.uid, s.uid));
    }
    if d.gid != s.gid {
        parts.push(format!("gid docker {} | strata {}", d.gid, s.gid));
    }
    if d.size != s.size {
        parts.push(format!("size docker {} | strata {}", d.size, s.size));
    }
    if d.sha256 != s.sha256 {
        match (&d.preview, &s.preview) {
            (Some(dp), Some(sp)) => parts.push(format!("content docker {dp:?} | strata {sp:?}")),
            _ => parts.push(format!(
                "content docker sha256:{} | strata sha256:{}",
                &d.sha256[..d.sha256.len().min(12)],
                &s.sha256[..s.sha256.len().min(12)]
            )),
        }
    }
    if d.link != s.link {
        parts.push(format!("link docker {:?} | strata {:?}", d.link, s.link));
    }
    parts.join("; ")
}

/// One line of a case's `expected-differences`: a key (exact, or `/dir/**` for everything
/// below `/dir`, not `/dir` itself) and the reason the difference is genuine.
#[derive(Debug, Clone)]
pub struct Expected {
    pub key: String,
    pub reason: String,
}

impl Expected {
    fn matches(&self, key: &str) -> bool {
        match self.key.strip_suffix("/**") {
            Some(dir) => key.starts_with(&format!("{dir}/")),
            None => key == self.key,
        }
    }
}

/// Parses an `expected-differences` file: `KEY reason…` per line, `#` comments. A line
/// without a reason is an error: every listed difference must say why it is acceptable.
pub fn parse_expected(text: &str, file: &str) -> Result<Vec<Expected>, String> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if reason.trim().is_empty() {
            return Err(format!(
                "{file}:{}: `{key}` has no reason (write `KEY why it differs`)",
                number + 1
            ));
        }
        out.push(Expected {
            key: key.to_string(),
            reason: reason.trim().to_string(),
        });
    }
    Ok(out)
}

/// The outcome of comparing one image pair against its list.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Differences no list entry explains: failures.
    pub unexpected: Vec<Difference>,
    /// Differences a list entry explains, with its reason.
    pub explained: Vec<(Difference, String)>,
    /// List entries that matched nothing: failures too, so the lists stay true.
    pub stale: Vec<Expected>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.unexpected.is_empty() && self.stale.is_empty()
    }
}

/// Sorts differences into unexpected and explained; finds stale list entries.
pub fn judge(differences: Vec<Difference>, expected: &[Expected]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut used = vec![false; expected.len()];
    for difference in differences {
        match expected.iter().position(|e| e.matches(&difference.key)) {
            Some(i) => {
                used[i] = true;
                verdict
                    .explained
                    .push((difference, expected[i].reason.clone()));
            }
            None => verdict.unexpected.push(difference),
        }
    }
    verdict.stale = expected
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(e, _)| e.clone())
        .collect();
    verdict
}
