//! `ADD https://…`: downloads a URL into the step's scratch dir, the way BuildKit's HTTP source
//! does, so the copy engine can treat it as one more file.
//!
//! What docker users see, and what this matches: the file is named after the last segment of
//! the URL's path (`__unnamed__` when there is none), has mode `0600`, takes its mtime from the
//! `Last-Modified` header when the server sends one, and is never unpacked even when it is an
//! archive. `--checksum=sha256:…` is checked against the bytes received before anything is
//! used. The content digest enters the cache key like a context file's, so a changed download
//! re-runs the step and an unchanged one is a hit.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The name BuildKit gives a download whose URL path has no last segment.
const UNNAMED: &str = "__unnamed__";

/// How long to wait for a server to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A downloaded file, ready to be copied.
#[derive(Debug)]
pub struct Fetched {
    /// Where the bytes are on the host.
    pub path: PathBuf,
    /// The file's name in the image when the destination is a directory.
    pub name: String,
}

/// Downloads `url` into a fresh directory under `dir`, checking `checksum` (`sha256:<hex>`)
/// when given. Nothing is left half-written on failure: the caller's scratch dir goes away
/// with the step.
pub fn fetch(url: &str, checksum: Option<&str>, dir: &Path) -> Result<Fetched> {
    let fail = |reason: String| Error::Fetch {
        url: url.to_string(),
        reason,
    };
    let expected = checksum.map(parse_checksum).transpose().map_err(fail)?;
    let name = file_name(url);
    let target_dir = tempfile::Builder::new()
        .prefix("fetch-")
        .tempdir_in(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .keep();
    let path = target_dir.join(&name);

    let mut response = client()
        .and_then(|client| client.get(url).send())
        .map_err(|e| fail(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    let modified = response
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());

    let io_error = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut file = File::create(&path).map_err(io_error)?;
    let actual = copy_hashing(&mut response, &mut file).map_err(|e| match e {
        CopyError::Read(e) => fail(format!("reading the response: {e}")),
        CopyError::Write(e) => io_error(e),
    })?;
    if let Some(expected) = expected {
        if actual != expected {
            return Err(fail(format!(
                "digest mismatch sha256:{}: sha256:{}",
                hex::encode(expected),
                hex::encode(actual)
            )));
        }
    }
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_error)?;
    if let Some(modified) = modified {
        file.set_modified(modified).map_err(io_error)?;
    }
    Ok(Fetched { path, name })
}

fn client() -> reqwest::Result<reqwest::blocking::Client> {
    // reqwest is built without a default crypto provider; ring is the one we ship. Installing
    // twice is harmless (the first wins), so every caller may ask.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(None)
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A transport error by its root cause (`tcp connect error: Connection refused`), which reqwest
/// keeps at the end of its source chain; the URL is already in our message.
fn describe(error: &reqwest::Error) -> String {
    let mut deepest: &dyn std::error::Error = error;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    if error.is_timeout() {
        format!("timed out: {deepest}")
    } else {
        deepest.to_string()
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy_hashing(from: &mut impl Read, to: &mut File) -> std::result::Result<[u8; 32], CopyError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buffer[..n]);
        to.write_all(&buffer[..n]).map_err(CopyError::Write)?;
    }
    to.sync_all().map_err(CopyError::Write)?;
    Ok(hasher.finalize().into())
}

/// `sha256:<64 hex>`, the only form BuildKit accepts for an HTTP source.
fn parse_checksum(checksum: &str) -> std::result::Result<[u8; 32], String> {
    let invalid = || format!("invalid checksum `{checksum}`: expected sha256:<64 hex digits>");
    let hex_part = checksum.strip_prefix("sha256:").ok_or_else(invalid)?;
    let bytes = hex::decode(hex_part).map_err(|_| invalid())?;
    bytes.try_into().map_err(|_| invalid())
}

/// The last segment of the URL's path, percent-decoded, as Go's `path.Base(url.Path)`.
fn file_name(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_query = after_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or(after_scheme);
    let path = without_query
        .find('/')
        .map_or("", |slash| &without_query[slash..]);
    let base = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let decoded = percent_decode(base);
    if decoded.is_empty() || decoded == "." || decoded == ".." || decoded.contains('/') {
        UNNAMED.to_string()
    } else {
        decoded
    }
}

fn percent_decode(text: &str) -> String {
    let hex_value = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(high << 4 | low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_url_path_as_buildkit() {
        assert_eq!(
            file_name("https://example.com/a/b/app.tar.gz"),
            "app.tar.gz"
        );
        assert_eq!(file_name("https://example.com/a/b/?x=1"), "b");
        assert_eq!(
            file_name("https://example.com/dir/file%20name#frag"),
            "file name"
        );
        assert_eq!(file_name("https://example.com"), UNNAMED);
        assert_eq!(file_name("https://example.com/"), UNNAMED);
        assert_eq!(file_name("http://h:8080/%2F"), UNNAMED);
    }

    #[test]
    fn checksums_must_be_sha256_hex() {
        let good = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(parse_checksum(&good).unwrap(), [0xab; 32]);
        for bad in ["sha256:abc", "md5:00", &"ab".repeat(32), "sha256:zz"] {
            let err = parse_checksum(bad).unwrap_err();
            assert!(err.contains("expected sha256:<64 hex digits>"), "{err}");
        }
    }
}
