//! Content digests (`sha256:<hex>`), the names of everything in the store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A sha256 content digest: the name of a blob, a layer (DiffID), a cache key.
///
/// Only sha256 is accepted: it is what every image tool writes and what the store's paths
/// (`blobs/sha256/<hex>`) assume. Parsing is strict (lower-case hex, exactly 64 digits) because
/// digests arrive from untrusted tarballs and manifests and end up in file names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// Wraps raw hash bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    /// The raw hash bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The algorithm, as written before the colon.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The 64 hex digits, without the algorithm (file names in `blobs/sha256/`).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the bare hex form.
    pub fn from_hex(text: &str) -> Result<Self> {
        if text.len() != 64
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::BadDigest(text.to_string()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| Error::BadDigest(text.to_string()))?;
        Ok(Digest(bytes))
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text.split_once(':') {
            Some(("sha256", hex)) => {
                Digest::from_hex(hex).map_err(|_| Error::BadDigest(text.into()))
            }
            Some((algorithm, _))
                if !algorithm.is_empty()
                    && algorithm
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
            {
                Err(Error::UnsupportedDigest(text.to_string()))
            }
            _ => Err(Error::BadDigest(text.to_string())),
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> String {
        digest.to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", &self.hex()[..12])
    }
}

/// A hasher that also counts bytes: what a streaming writer needs to name what it wrote.
#[derive(Default, Clone)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Hasher::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest(self.inner.finalize().into())
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_canonical_form() {
        let d = Digest::of(b"");
        let text = d.to_string();
        assert_eq!(
            text,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(text.parse::<Digest>().unwrap(), d);
        assert!("sha256:XYZ".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "A".repeat(64))
            .parse::<Digest>()
            .is_err());
    }

    #[test]
    fn hostile_digests_are_rejected_without_panicking() {
        let good = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let bad = [
            String::new(),
            "sha256:".into(),
            "sha256".into(),
            good.into(),
            format!("sha256:{}", &good[..63]),
            format!("sha256:{good}0"),
            format!("sha256:{good}\n"),
            format!(" sha256:{good}"),
            format!("SHA256:{good}"),
            format!("sha256:{}g", &good[..63]),
            format!("sha256:../{}", &good[..61]),
            format!("sha256:{}é", &good[..62]),
            format!("sha256::{good}"),
            format!(":{good}"),
        ];
        for text in &bad {
            let err = text.parse::<Digest>().unwrap_err();
            assert!(matches!(err, Error::BadDigest(_)), "{text:?}: {err}");
            assert!(err.to_string().contains("invalid digest"), "{err}");
        }
        for text in [format!("sha512:{good}{good}"), "md5:00".to_string()] {
            let err = text.parse::<Digest>().unwrap_err();
            assert!(
                matches!(err, Error::UnsupportedDigest(_)),
                "{text:?}: {err}"
            );
        }
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
        let d: Digest = serde_json::from_str(&format!("\"sha256:{good}\"")).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!("\"sha256:{good}\"")
        );
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(Digest::from_hex(good).unwrap(), d);
    }

    #[test]
    fn the_hasher_counts_and_names_what_it_was_fed() {
        let mut hasher = Hasher::new();
        assert!(hasher.is_empty());
        hasher.update(b"hello ");
        std::io::Write::write_all(&mut hasher, b"world").unwrap();
        assert_eq!(hasher.len(), 11);
        assert_eq!(hasher.finish(), Digest::of(b"hello world"));
    }
}
