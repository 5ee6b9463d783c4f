//! Downloads from a registry, bounded: a manifest (or index, or image config) is at most
//! [`MAX_MANIFEST_SIZE`] bytes, as in docker's distribution client, and is refused as soon as
//! the registry announces or sends more; a blob is streamed, hashed as it comes and held to
//! its descriptor's size (cut off at the first byte past it, refused when it ends short).
//! Every wait is bounded by the operation's deadline ([`super::Timeouts`]).
//!
//! Both are fetched with requests of strata's own: oci-client reads a manifest, and the body of
//! any error answer, whole into memory before anything can look at its size. Tokens still come
//! from oci-client, and are reused for a while per repository.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use oci_client::errors::{OciDistributionError, OciEnvelope};
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;
use strata_cache::{BlobRef, Digest, Hasher, Store};

use super::classify::registry_error;
use super::client::{FetchedManifest, Registry, ACCEPTED_MANIFESTS};
use super::remote::Remote;
use super::retry::{Deadline, Failure};
use super::ErrorKind;
use crate::error::{Error, Result};
use crate::image::manifest::media_type_of;

/// The largest manifest, index or image config strata reads: 4 MiB, docker's
/// `maxManifestBodySize` (distribution's client). Real ones are a few KiB; anything larger
/// is a registry trying to exhaust memory.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// How much of an error answer's body is read (for its message).
const MAX_ERROR_BODY: u64 = 64 << 10;

/// How long a repository's token is reused: the distribution token spec's shortest lifetime
/// is 60 s. A registry that refuses a reused one gets a fresh one.
const TOKEN_REUSE: Duration = Duration::from_secs(50);

/// How requests to a repository are authorized.
#[derive(Clone)]
enum Authorization {
    Bearer(String),
    Basic(String, String),
    Nothing,
}

/// Authorizations per `registry/repository`, with when they were fetched.
#[derive(Default)]
pub(super) struct Tokens(Mutex<HashMap<String, (Instant, Authorization)>>);

impl Tokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Authorization)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The size a download must have.
#[derive(Debug, Clone, Copy)]
enum Size {
    /// Exactly this many bytes (a descriptor's size).
    Exact(u64),
    /// At most this many bytes.
    AtMost(u64),
    /// Whatever the registry sends (the digest still has to match).
    Any,
}

impl Size {
    fn limit(self) -> u64 {
        match self {
            Size::Exact(n) | Size::AtMost(n) => n,
            Size::Any => u64::MAX,
        }
    }
}

fn fatal(kind: ErrorKind, reason: String) -> Failure {
    Failure {
        transient: false,
        error: registry_error(kind, reason),
    }
}

/// What an answer other than 2xx means, as oci-client would have reported it.
fn answer_error(status: reqwest::StatusCode, body: &[u8], url: &str) -> OciDistributionError {
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return OciDistributionError::UnauthorizedError {
            url: url.to_string(),
        };
    }
    if status.is_client_error() {
        if let Ok(envelope) = serde_json::from_slice::<OciEnvelope>(body) {
            return OciDistributionError::RegistryError {
                envelope,
                url: url.to_string(),
            };
        }
    }
    OciDistributionError::ServerError {
        code: status.as_u16(),
        url: url.to_string(),
        message: String::from_utf8_lossy(body).into_owned(),
    }
}

impl Registry {
    /// Fetches a manifest or index by tag or digest, at most [`MAX_MANIFEST_SIZE`] bytes. A
    /// reference with a digest is checked against the bytes.
    pub fn get_manifest(&self, remote: &Remote) -> Result<FetchedManifest> {
        let registry = remote.registry.as_str();
        let bytes = self.with_retry(registry, |deadline| self.manifest_once(remote, deadline))?;
        let digest = Digest::of(&bytes);
        if let Some(expected) = remote.digest {
            if expected != digest {
                return Err(registry_error(
                    ErrorKind::DigestMismatch,
                    format!("digest mismatch: registry {registry} sent a manifest with digest {digest} for {expected}"),
                ));
            }
        }
        let media_type = media_type_of(&bytes).map_err(|reason| {
            registry_error(ErrorKind::Other, format!("manifest {digest}: {reason}"))
        })?;
        Ok(FetchedManifest {
            bytes,
            digest,
            media_type,
        })
    }

    /// The digest a tag points at now (a HEAD request when the registry answers with
    /// `Docker-Content-Digest`), `None` when the tag does not exist.
    pub fn manifest_digest(&self, remote: &Remote) -> Result<Option<Digest>> {
        let registry = remote.registry.as_str();
        let client = self.client(registry);
        let reference = remote.oci();
        let found = self.with_retry(registry, |deadline| {
            let auth = self.oci_auth(registry)?;
            let head = async { Ok(client.fetch_manifest_digest(&reference, &auth).await) };
            match self.block_on(registry, deadline, head)? {
                Ok(digest) => Ok(Some(digest)),
                Err(e) => {
                    let failure = self.classify(registry, e);
                    match &failure.error {
                        Error::Registry {
                            kind: ErrorKind::NotFound,
                            ..
                        } => Ok(None),
                        _ => Err(failure),
                    }
                }
            }
        })?;
        found
            .map(|d| {
                d.parse::<Digest>().map_err(|e| {
                    registry_error(
                        ErrorKind::Other,
                        format!("registry {registry}: digest {d}: {e}"),
                    )
                })
            })
            .transpose()
    }

    /// The `Authorization` for pulls from a repository: reused for [`TOKEN_REUSE`] unless
    /// `fresh`; otherwise from oci-client (a bearer token through the registry's token
    /// server, or the credentials themselves for basic-auth registries). Returns whether it
    /// came from the cache.
    async fn authorization(
        &self,
        remote: &Remote,
        fresh: bool,
    ) -> std::result::Result<(Authorization, bool), Failure> {
        let key = remote.location();
        if !fresh {
            let tokens = self.tokens.lock();
            if let Some((at, found)) = tokens.get(&key) {
                if at.elapsed() < TOKEN_REUSE {
                    return Ok((found.clone(), true));
                }
            }
        }
        let registry = remote.registry.as_str();
        let auth = self.oci_auth(registry)?;
        let token = self
            .client(registry)
            .auth(&remote.oci(), &auth, RegistryOperation::Pull)
            .await
            .map_err(|e| self.classify(registry, e))?;
        let found = match (token, auth) {
            (Some(token), _) => Authorization::Bearer(token),
            (None, RegistryAuth::Basic(user, password)) => Authorization::Basic(user, password),
            _ => Authorization::Nothing,
        };
        self.tokens
            .lock()
            .insert(key, (Instant::now(), found.clone()));
        Ok((found, false))
    }

    /// A GET of `/v2/<repository>/<path>` with the repository's authorization, answered 2xx;
    /// any other answer is an error (its body read to [`MAX_ERROR_BODY`]). A reused token the
    /// registry no longer takes is replaced once.
    async fn get(
        &self,
        remote: &Remote,
        path: &str,
        accept: Option<&str>,
    ) -> std::result::Result<reqwest::Response, Failure> {
        let registry = remote.registry.as_str();
        let http = self.http_client().map_err(|error| Failure {
            transient: false,
            error,
        })?;
        let scheme = if self.is_insecure(registry) {
            "http"
        } else {
            "https"
        };
        let reference = remote.oci();
        let url = format!(
            "{scheme}://{}/v2/{}/{path}",
            reference.resolve_registry(),
            reference.repository(),
        );
        let mut fresh = false;
        loop {
            let (authorization, cached) = self.authorization(remote, fresh).await?;
            let mut request = http.get(&url);
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            request = match authorization {
                Authorization::Bearer(token) => request.bearer_auth(token),
                Authorization::Basic(user, password) => request.basic_auth(user, Some(password)),
                Authorization::Nothing => request,
            };
            let mut response = request
                .send()
                .await
                .map_err(|e| self.classify(registry, e.into()))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && cached {
                fresh = true;
                continue;
            }
            let mut body = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() as u64 >= MAX_ERROR_BODY {
                    break;
                }
            }
            return Err(self.classify(registry, answer_error(status, &body, &url)));
        }
    }

    /// One GET of a manifest, its body read with a cap.
    fn manifest_once(
        &self,
        remote: &Remote,
        deadline: &Deadline,
    ) -> std::result::Result<Vec<u8>, Failure> {
        let registry = remote.registry.as_str();
        let reference = remote.oci();
        let path = format!(
            "manifests/{}",
            reference.digest().or(reference.tag()).unwrap_or("latest")
        );
        let classify = |e: OciDistributionError| self.classify(registry, e);
        let too_large = |what: String| {
            fatal(
                ErrorKind::Other,
                format!(
                    "manifest {remote}: registry {registry} {what}, over the {} MiB limit for manifests",
                    MAX_MANIFEST_SIZE >> 20
                ),
            )
        };
        let accept = ACCEPTED_MANIFESTS.join(", ");
        self.block_on(registry, deadline, async {
            let mut response = self.get(remote, &path, Some(&accept)).await?;
            if let Some(announced) = response
                .content_length()
                .filter(|n| *n > MAX_MANIFEST_SIZE)
            {
                return Err(too_large(format!("announced {announced} bytes")));
            }
            let header_digest = response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Digest>().ok());
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| classify(e.into()))? {
                if (body.len() + chunk.len()) as u64 > MAX_MANIFEST_SIZE {
                    return Err(too_large(format!(
                        "sent more than {MAX_MANIFEST_SIZE} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            if let Some(header) = header_digest {
                let actual = Digest::of(&body);
                if header != actual {
                    return Err(fatal(
                        ErrorKind::DigestMismatch,
                        format!("digest mismatch: registry {registry} sent manifest {remote} with digest {actual} but said {header}"),
                    ));
                }
            }
            Ok(body)
        })
    }

    /// One download of a blob into `out`, hashing and counting as it goes, cut off as soon as
    /// it is longer than `size` allows; `written` counts what reached `out`.
    fn fetch_once(
        &self,
        remote: &Remote,
        digest: &Digest,
        size: Size,
        out: &mut dyn Write,
        written: &mut u64,
        deadline: &Deadline,
    ) -> std::result::Result<(), Failure> {
        let registry = remote.registry.as_str();
        let mismatch = |actual: Digest, got: u64| {
            fatal(
                ErrorKind::DigestMismatch,
                format!(
                    "digest mismatch: registry {registry} sent {got} bytes with digest {actual} for blob {digest}"
                ),
            )
        };
        let wrong_size = |what: String| {
            let wanted = match size {
                Size::Exact(n) => format!("its descriptor says {n}"),
                Size::AtMost(n) => format!("the limit is {n}"),
                Size::Any => String::new(),
            };
            fatal(
                ErrorKind::DigestMismatch,
                format!("size mismatch: registry {registry} {what} for blob {digest}, {wanted}"),
            )
        };
        let path = format!("blobs/{digest}");
        let response = self.block_on(registry, deadline, self.get(remote, &path, None))?;
        match (size, response.content_length()) {
            (Size::Exact(n), Some(l)) if l != n => {
                return Err(wrong_size(format!("announced {l} bytes")))
            }
            (Size::AtMost(n), Some(l)) if l > n => {
                return Err(wrong_size(format!("announced {l} bytes")))
            }
            _ => {}
        }
        let mut stream = response.bytes_stream();
        let mut hasher = Hasher::new();
        self.runtime()?.block_on(async {
            loop {
                let next = tokio::time::timeout_at(deadline.at().into(), stream.next()).await;
                let Ok(next) = next else {
                    return Err(self.timed_out(registry));
                };
                let Some(chunk) = next else { break };
                let bytes = chunk.map_err(|e| self.classify(registry, e.into()))?;
                // Cut off at the first byte past the size: nothing more is read.
                if hasher.len() + bytes.len() as u64 > size.limit() {
                    return Err(wrong_size(format!("sent more than {} bytes", size.limit())));
                }
                hasher.update(&bytes);
                out.write_all(&bytes).map_err(|source| Failure {
                    transient: false,
                    error: Error::Io {
                        path: format!("<blob {digest}>").into(),
                        source,
                    },
                })?;
                *written += bytes.len() as u64;
                deadline.progress();
            }
            let got = hasher.len();
            if let Size::Exact(n) = size {
                if got != n {
                    return Err(wrong_size(format!("sent {got} bytes")));
                }
            }
            let actual = hasher.finish();
            if actual != *digest {
                return Err(mismatch(actual, got));
            }
            Ok(())
        })
    }

    /// Downloads a blob into `out`, checking its digest; returns its size. Retries only while
    /// nothing has been written to `out` (use [`Registry::fetch_blob`] for full retries).
    /// A digest mismatch is an error of kind [`ErrorKind::DigestMismatch`], after `out` has
    /// seen the bytes: callers must discard them.
    pub fn get_blob(&self, remote: &Remote, digest: &Digest, out: &mut dyn Write) -> Result<u64> {
        self.get_blob_as(remote, digest, Size::Any, out)
    }

    /// [`Registry::get_blob`] for a blob of a known size (its descriptor's): one that is longer
    /// is cut off at the first byte too many, one that ends short is refused; both are errors
    /// of kind [`ErrorKind::DigestMismatch`].
    pub fn get_blob_sized(
        &self,
        remote: &Remote,
        digest: &Digest,
        size: u64,
        out: &mut dyn Write,
    ) -> Result<u64> {
        self.get_blob_as(remote, digest, Size::Exact(size), out)
    }

    fn get_blob_as(
        &self,
        remote: &Remote,
        digest: &Digest,
        size: Size,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let mut written = 0u64;
        self.with_retry(&remote.registry, |deadline| {
            if written > 0 {
                return Err(fatal(
                    ErrorKind::Network,
                    format!(
                        "registry {}: blob {digest} broke off after {written} bytes",
                        remote.registry
                    ),
                ));
            }
            self.fetch_once(remote, digest, size, out, &mut written, deadline)
        })?;
        Ok(written)
    }

    /// Downloads a blob into memory, checking its digest; for configs and other small blobs:
    /// one over [`MAX_MANIFEST_SIZE`] is refused.
    pub fn get_blob_bytes(&self, remote: &Remote, digest: &Digest) -> Result<Vec<u8>> {
        self.with_retry(&remote.registry, |deadline| {
            let mut out = Vec::new();
            let mut written = 0;
            let size = Size::AtMost(MAX_MANIFEST_SIZE);
            self.fetch_once(remote, digest, size, &mut out, &mut written, deadline)?;
            Ok(out)
        })
    }

    /// Downloads a blob into the store (unless it is there already), checking its digest;
    /// retried from the start after a broken transfer. Nothing is stored on failure.
    pub fn fetch_blob(&self, store: &Store, remote: &Remote, digest: &Digest) -> Result<BlobRef> {
        self.fetch_blob_as(store, remote, digest, Size::Any)
    }

    /// [`Registry::fetch_blob`] for a blob of a known size (its descriptor's): a longer one is
    /// cut off at the first byte too many, a shorter one refused, and nothing is stored.
    pub fn fetch_blob_sized(
        &self,
        store: &Store,
        remote: &Remote,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobRef> {
        self.fetch_blob_as(store, remote, digest, Size::Exact(size))
    }

    fn fetch_blob_as(
        &self,
        store: &Store,
        remote: &Remote,
        digest: &Digest,
        size: Size,
    ) -> Result<BlobRef> {
        if store.blobs().exists(digest) {
            let have = store.blobs().size(digest)?;
            if let Size::Exact(n) = size {
                if have != n {
                    return Err(registry_error(
                        ErrorKind::DigestMismatch,
                        format!("size mismatch: blob {digest} is {have} bytes, its descriptor from registry {} says {n}", remote.registry),
                    ));
                }
            }
            return Ok(BlobRef {
                digest: *digest,
                size: have,
            });
        }
        let writer = self.with_retry(&remote.registry, |deadline| {
            let mut writer = store.blobs().writer().map_err(|e| Failure {
                transient: false,
                error: e.into(),
            })?;
            let mut written = 0;
            self.fetch_once(remote, digest, size, &mut writer, &mut written, deadline)?;
            Ok(writer)
        })?;
        let (digest, size) = writer.commit(Some(*digest))?;
        Ok(BlobRef { digest, size })
    }
}
