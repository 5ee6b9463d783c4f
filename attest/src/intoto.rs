//! in-toto statements (<https://in-toto.io/Statement/v1>): the envelope every attestation
//! travels in, naming what it is about (the subjects) and what it says (the predicate).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The statement type this crate writes.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The statement type BuildKit wrote before in-toto v1 (still read by consumers).
pub const STATEMENT_TYPE_V01: &str = "https://in-toto.io/Statement/v0.1";

/// An in-toto statement, fields in the order BuildKit writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement<P> {
    /// Always [`STATEMENT_TYPE`] when written here.
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What kind of predicate follows (an SPDX document, a SLSA provenance).
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// What it says.
    pub predicate: P,
}

/// One artifact a statement is about, by name and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// A name for it; for images the purl of the image name (`pkg:docker/app@latest?…`).
    pub name: String,
    /// Algorithm → lower-case hex (`{"sha256": "…"}`).
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// The subjects for an image manifest, one per name it was tagged with, as BuildKit writes
    /// them (`pkg:docker/NAME@TAG?platform=OS%2FARCH`); `_` when the image has no name.
    pub fn for_image(
        names: &[String],
        platform: &str,
        manifest_digest: &str,
    ) -> Result<Vec<Subject>> {
        let digest = digest_set(manifest_digest)?;
        if names.is_empty() {
            return Ok(vec![Subject {
                name: "_".to_string(),
                digest,
            }]);
        }
        Ok(names
            .iter()
            .map(|name| Subject {
                name: crate::purl::image(name, Some(platform)),
                digest: digest.clone(),
            })
            .collect())
    }
}

/// Serializes a statement about `subjects` with the given predicate.
pub fn statement<P: Serialize>(
    predicate_type: &str,
    subjects: Vec<Subject>,
    predicate: P,
) -> Result<Vec<u8>> {
    let statement = Statement {
        statement_type: STATEMENT_TYPE.to_string(),
        predicate_type: predicate_type.to_string(),
        subject: subjects,
        predicate,
    };
    Ok(serde_json::to_vec(&statement)?)
}

/// Reads the predicate type of a serialized statement, checking that it is one.
pub fn predicate_type(statement: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(rename = "_type")]
        statement_type: String,
        #[serde(rename = "predicateType")]
        predicate_type: String,
    }
    let header: Header =
        serde_json::from_slice(statement).map_err(|e| Error::NotAStatement(e.to_string()))?;
    if header.statement_type != STATEMENT_TYPE && header.statement_type != STATEMENT_TYPE_V01 {
        return Err(Error::NotAStatement(format!(
            "`_type` is {:?}",
            header.statement_type
        )));
    }
    if header.predicate_type.is_empty() {
        return Err(Error::NotAStatement("empty `predicateType`".to_string()));
    }
    Ok(header.predicate_type)
}

/// `sha256:<hex>` → `{"sha256": "<hex>"}`, checking the digest's form.
pub fn digest_set(digest: &str) -> Result<BTreeMap<String, String>> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
        .ok_or_else(|| Error::BadDigest(digest.to_string()))?;
    Ok(BTreeMap::from([("sha256".to_string(), hex.to_string())]))
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_each_tag_and_fall_back_to_underscore() {
        let digest = sha256_digest(b"manifest");
        let subjects = Subject::for_image(
            &["docker.io/library/app:1".to_string()],
            "linux/amd64",
            &digest,
        )
        .unwrap();
        assert_eq!(subjects[0].name, "pkg:docker/app@1?platform=linux%2Famd64");
        assert_eq!(subjects[0].digest["sha256"], digest["sha256:".len()..]);
        assert_eq!(
            Subject::for_image(&[], "linux/amd64", &digest).unwrap()[0].name,
            "_"
        );
        assert!(Subject::for_image(&[], "linux/amd64", "sha256:abc").is_err());
    }

    #[test]
    fn statements_round_trip_and_name_their_predicate() {
        let digest = sha256_digest(b"m");
        let bytes = statement(
            "https://example.com/p",
            Subject::for_image(&[], "linux/amd64", &digest).unwrap(),
            serde_json::json!({"k": 1}),
        )
        .unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"#));
        assert_eq!(predicate_type(&bytes).unwrap(), "https://example.com/p");
        assert!(predicate_type(br#"{"_type":"x","predicateType":"y"}"#).is_err());
        assert!(predicate_type(b"not json").is_err());
    }
}
