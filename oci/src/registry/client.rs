//! The synchronous registry facade over `oci-client`: owns a small tokio runtime, one
//! `oci-client` client per registry (HTTP for insecure ones), credentials per registry, and
//! retries, timeouts. Downloads (manifests capped in size, blobs checked against their size and
//! digest) are in `download.rs`.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use strata_cache::Digest;

use super::auth::{AuthSource, Resolver};
use super::remote::Remote;
use super::retry::{retry, Deadline, Failure, GaveUp, RetryPolicy, Timeouts};
use super::ErrorKind;
use crate::error::{Error, Result};
use crate::image::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

pub(super) const USER_AGENT: &str = concat!("strata/", env!("CARGO_PKG_VERSION"));

/// The manifest media types strata asks for.
pub const ACCEPTED_MANIFESTS: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// The slowest upload rate strata waits for, in bytes per second: an upload's deadline is
/// extended by its size at this rate (a registry that keeps up with less than this on average
/// is given up on).
pub const UPLOAD_RATE: u64 = 256 << 10;

/// A callback for notices (retries), one line each.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// How to talk to registries.
#[derive(Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`, or a host for all its ports) spoken to over plain HTTP, on top
    /// of `localhost`, `127.0.0.0/8` and `::1`, as docker does.
    pub insecure: Vec<String>,
    /// Where credentials come from.
    pub auth: AuthSource,
    /// Retries for transient failures.
    pub retry: RetryPolicy,
    /// How long a registry may keep strata waiting, per attempt and per operation.
    pub timeouts: Timeouts,
    /// Told about each retry; `None` keeps quiet.
    pub notify: Option<Notify>,
}

/// A manifest (or index) as the registry holds it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// Its bytes, exactly as served.
    pub bytes: Vec<u8>,
    /// Their digest (checked against the reference's digest when it has one).
    pub digest: Digest,
    /// Its media type (from the JSON's `mediaType`, else inferred).
    pub media_type: String,
}

/// Where a blob to push comes from.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// Bytes in memory (configs, small blobs).
    Bytes(Vec<u8>),
    /// A file, streamed (store blobs: `store.blobs().path(digest)`).
    File(PathBuf),
}

/// A connection to registries; cheap to share between threads (`&Registry` is `Sync`).
pub struct Registry {
    /// Started on first use: a command that never talks to a registry starts no threads.
    runtime: std::sync::OnceLock<std::result::Result<tokio::runtime::Runtime, String>>,
    /// Per registry, and whether for uploads (those have no read timeout of their own).
    clients: Mutex<HashMap<(String, bool), oci_client::Client>>,
    http: Mutex<Option<reqwest::Client>>,
    /// Pull authorizations per repository, for strata's own GETs.
    pub(super) tokens: super::download::Tokens,
    insecure: Vec<String>,
    auth: Resolver,
    retry: RetryPolicy,
    pub(super) timeouts: Timeouts,
    notify: Option<Notify>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("insecure", &self.insecure)
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

pub(crate) fn registry_error(kind: ErrorKind, reason: impl Into<String>) -> Error {
    Error::Registry {
        kind,
        reason: reason.into(),
    }
}

/// Whether an error (or one of its causes) is a timeout: reqwest's own, or an I/O one (also
/// when wrapped in an `io::Error`, whose `source` skips the error it wraps).
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
            if let Some(inner) = io.get_ref() {
                if is_timeout(inner) {
                    return true;
                }
            }
        }
        current = e.source();
    }
    false
}

/// The innermost cause of an error: "Connection refused (os error 111)" rather than
/// "error sending request for url …".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// `host` of `host:port`, `[::1]:5000` → `::1`.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    }
}

impl Registry {
    /// A registry client with these options. Nothing is contacted yet.
    pub fn new(options: RegistryOptions) -> Result<Registry> {
        // reqwest is built without a bundled crypto provider: ring is strata's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Registry {
            runtime: std::sync::OnceLock::new(),
            clients: Mutex::new(HashMap::new()),
            http: Mutex::new(None),
            tokens: Default::default(),
            insecure: options.insecure,
            auth: Resolver::new(options.auth),
            retry: options.retry,
            timeouts: options.timeouts,
            notify: options.notify,
        })
    }

    pub(super) fn runtime(&self) -> std::result::Result<&tokio::runtime::Runtime, Failure> {
        let runtime = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("strata-registry")
                .enable_all()
                .build()
                .map_err(|e| format!("starting the network runtime: {e}"))
        });
        runtime.as_ref().map_err(|reason| Failure {
            transient: false,
            error: registry_error(ErrorKind::Other, reason.clone()),
        })
    }

    /// Whether a registry is spoken to over plain HTTP: named with `--insecure-registry`
    /// (exactly, or its host), or `localhost`, `127.0.0.0/8`, `::1`.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = host_of(registry);
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            if ip.is_loopback() {
                return true;
            }
        }
        self.insecure
            .iter()
            .any(|i| i.eq_ignore_ascii_case(registry) || i.eq_ignore_ascii_case(host))
    }

    pub(super) fn client(&self, registry: &str) -> oci_client::Client {
        self.client_for(registry, false)
    }

    /// The client for uploads: reqwest's read timeout also covers sending the request body,
    /// so an upload is bounded by its operation's deadline (extended by its size) instead.
    fn upload_client(&self, registry: &str) -> oci_client::Client {
        self.client_for(registry, true)
    }

    fn client_for(&self, registry: &str, upload: bool) -> oci_client::Client {
        let mut clients = self.clients.lock().expect("registry clients");
        clients
            .entry((registry.to_string(), upload))
            .or_insert_with(|| {
                let config = ClientConfig {
                    protocol: if self.is_insecure(registry) {
                        ClientProtocol::Http
                    } else {
                        ClientProtocol::Https
                    },
                    use_monolithic_push: true,
                    platform_resolver: None,
                    connect_timeout: Some(self.timeouts.attempt),
                    read_timeout: (!upload).then_some(self.timeouts.attempt),
                    user_agent: USER_AGENT,
                    ..Default::default()
                };
                oci_client::Client::new(config)
            })
            .clone()
    }

    pub(super) fn oci_auth(&self, registry: &str) -> std::result::Result<RegistryAuth, Failure> {
        match self.auth.credentials(registry) {
            Ok(Some(c)) => Ok(RegistryAuth::Basic(c.username, c.password)),
            Ok(None) => Ok(RegistryAuth::Anonymous),
            Err(error) => Err(Failure {
                transient: false,
                error,
            }),
        }
    }

    /// Runs one request on the runtime after handing `client` the registry's credentials:
    /// oci-client's request methods that take no credentials of their own use those (and
    /// fetch a token only when it has none for the scope). `request` is lazy, so it may be
    /// built before the credentials are stored. It is given up at the deadline.
    fn with_auth<T>(
        &self,
        registry: &str,
        client: &oci_client::Client,
        reference: &oci_client::Reference,
        deadline: &Deadline,
        request: impl std::future::Future<Output = std::result::Result<T, Failure>>,
    ) -> std::result::Result<T, Failure> {
        let auth = self.oci_auth(registry)?;
        self.block_on(registry, deadline, async {
            client
                .store_auth_if_needed(reference.resolve_registry(), &auth)
                .await;
            request.await
        })
    }

    /// Runs `request` on the runtime, given up when the deadline passes.
    pub(super) fn block_on<T>(
        &self,
        registry: &str,
        deadline: &Deadline,
        request: impl std::future::Future<Output = std::result::Result<T, Failure>>,
    ) -> std::result::Result<T, Failure> {
        self.runtime()?.block_on(async {
            match tokio::time::timeout_at(deadline.at().into(), request).await {
                Ok(result) => result,
                Err(_) => Err(self.timed_out(registry)),
            }
        })
    }

    /// The failure of an operation whose deadline passed.
    pub(super) fn timed_out(&self, registry: &str) -> Failure {
        Failure {
            transient: true,
            error: registry_error(
                ErrorKind::Network,
                format!("registry {registry} timed out: the operation's deadline passed"),
            ),
        }
    }

    /// The failure of an attempt the registry left waiting longer than the attempt timeout.
    fn attempt_timed_out(&self, registry: &str) -> Failure {
        Failure {
            transient: true,
            error: registry_error(
                ErrorKind::Network,
                format!(
                    "registry {registry} timed out: no answer within {:?} (--registry-timeout)",
                    self.timeouts.attempt
                ),
            ),
        }
    }

    /// Turns an `oci-client` error into strata's, deciding whether a retry may help.
    pub(super) fn classify(&self, registry: &str, error: OciDistributionError) -> Failure {
        let transient = |reason: String| Failure {
            transient: true,
            error: registry_error(ErrorKind::Network, reason),
        };
        let fatal = |kind: ErrorKind, reason: String| Failure {
            transient: false,
            error: registry_error(kind, reason),
        };
        let unauthorized = |detail: &str| {
            let reason = if self.auth.has_credentials(registry) {
                format!(
                    "authentication failed: registry {registry} rejected the credentials{detail}"
                )
            } else {
                format!(
                    "authentication required: registry {registry} needs credentials{detail} (none found for it; run `strata login {registry}`)"
                )
            };
            fatal(ErrorKind::Auth, reason)
        };
        let by_status = |code: u16, message: &str| -> Failure {
            let message = message.trim();
            let detail = if message.is_empty() {
                String::new()
            } else {
                format!(": {}", message.chars().take(300).collect::<String>())
            };
            match code {
                401 => unauthorized(&detail),
                403 => fatal(
                    ErrorKind::Auth,
                    format!("registry {registry} denied access (authentication){detail}"),
                ),
                404 => fatal(
                    ErrorKind::NotFound,
                    format!("not found in registry {registry}{detail}"),
                ),
                408 | 429 | 500..=599 => {
                    transient(format!("registry {registry} answered HTTP {code}{detail}"))
                }
                _ => fatal(
                    ErrorKind::Other,
                    format!("registry {registry} answered HTTP {code}{detail}"),
                ),
            }
        };
        match error {
            OciDistributionError::RegistryError { envelope, .. } => {
                let first = envelope.errors.first();
                let kind = match first.map(|e| &e.code) {
                    Some(
                        OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound,
                    ) => ErrorKind::NotFound,
                    Some(OciErrorCode::Unauthorized) => return unauthorized(""),
                    Some(OciErrorCode::Denied) => ErrorKind::Auth,
                    Some(OciErrorCode::Toomanyrequests) => {
                        return transient(format!("registry {registry}: too many requests"))
                    }
                    _ => ErrorKind::Other,
                };
                let text = envelope
                    .errors
                    .iter()
                    .map(|e| {
                        if e.message.is_empty() {
                            format!("{:?}", e.code).to_lowercase()
                        } else {
                            e.message.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let text = if kind == ErrorKind::Auth {
                    format!("registry {registry} denied access (authentication): {text}")
                } else {
                    text
                };
                fatal(kind, text)
            }
            OciDistributionError::UnauthorizedError { .. } => unauthorized(""),
            OciDistributionError::AuthenticationFailure(reason) => {
                unauthorized(&format!(": {}", reason.trim()))
            }
            OciDistributionError::ServerError { code, message, .. } => by_status(code, &message),
            OciDistributionError::RequestError(e) => {
                if let Some(status) = e.status() {
                    return by_status(status.as_u16(), "");
                }
                if is_timeout(&e) {
                    return self.attempt_timed_out(registry);
                }
                let cause = root_cause(&e);
                let tls = super::tls::tls_failure(&e);
                if tls == Some(super::tls::TlsFailure::Untrusted) {
                    return fatal(
                        ErrorKind::Network,
                        format!(
                            "registry {registry}: its TLS certificate is not trusted: {cause} (add its CA to the system's trust store, or use --insecure-registry {registry} for plain HTTP)"
                        ),
                    );
                }
                if !self.is_insecure(registry) && tls == Some(super::tls::TlsFailure::NotTls) {
                    return fatal(
                        ErrorKind::Network,
                        format!(
                            "registry {registry} does not speak HTTPS: {cause} (if it serves plain HTTP, use --insecure-registry {registry})"
                        ),
                    );
                }
                if e.is_builder() {
                    fatal(ErrorKind::Other, format!("registry {registry}: {cause}"))
                } else {
                    transient(format!("cannot reach registry {registry}: {cause}"))
                }
            }
            OciDistributionError::IoError(e) if is_timeout(&e) => self.attempt_timed_out(registry),
            OciDistributionError::IoError(e) => {
                transient(format!("connection to registry {registry}: {e}"))
            }
            OciDistributionError::DigestError(e) => fatal(
                ErrorKind::DigestMismatch,
                format!("digest mismatch from registry {registry}: {e}"),
            ),
            other => fatal(ErrorKind::Other, format!("registry {registry}: {other}")),
        }
    }

    /// Runs one operation with retries, within the operation's deadline; the final error says
    /// how many attempts were made, and that it timed out when the deadline ran out.
    pub(super) fn with_retry<T>(
        &self,
        registry: &str,
        attempt: impl FnMut(&Deadline) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        self.with_retry_within(registry, &Deadline::new(self.timeouts.total), attempt)
    }

    /// [`Registry::with_retry`] with a deadline of the caller's.
    pub(super) fn with_retry_within<T>(
        &self,
        registry: &str,
        deadline: &Deadline,
        attempt: impl FnMut(&Deadline) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let notify = |n: u32, error: &Error| {
            if let Some(notify) = &self.notify {
                notify(&format!(
                    "{error}; retrying in {:?} (attempt {} of {})",
                    self.retry.delay(n),
                    n + 1,
                    self.retry.attempts
                ));
            }
        };
        let gave_up = |GaveUp {
                           error,
                           attempts,
                           deadline: ran_out,
                       }| {
            let Error::Registry { kind, reason } = error else {
                return error;
            };
            let reason = if ran_out {
                // The deadline, not the count of attempts, ended it: say it timed out.
                let timed_out = if reason.contains("timed out") {
                    String::new()
                } else {
                    format!("registry {registry} timed out; ")
                };
                format!(
                    "{reason} ({timed_out}gave up after {attempts} attempt{} in {:.1}s)",
                    if attempts == 1 { "" } else { "s" },
                    deadline.elapsed().as_secs_f64()
                )
            } else if attempts > 1 {
                format!("{reason} (after {attempts} attempts)")
            } else {
                reason
            };
            Error::Registry { kind, reason }
        };
        retry(&self.retry, deadline, attempt, &notify).map_err(gave_up)
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

    /// Stores a manifest (or index) under the reference's tag (or digest); returns its digest.
    pub fn put_manifest(&self, remote: &Remote, bytes: &[u8], media_type: &str) -> Result<Digest> {
        let registry = remote.registry.as_str();
        let client = self.client(registry);
        let reference = remote.oci();
        let content_type = reqwest::header::HeaderValue::from_str(media_type).map_err(|e| {
            registry_error(ErrorKind::Other, format!("media type `{media_type}`: {e}"))
        })?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.with_retry(registry, |deadline| {
            let push = client.push_manifest_raw(&reference, body.clone(), content_type.clone());
            self.with_auth(registry, &client, &reference, deadline, async {
                push.await.map_err(|e| self.classify(registry, e))
            })
        })?;
        Ok(Digest::of(bytes))
    }

    /// Whether the repository has a blob (a HEAD request).
    pub fn has_blob(&self, remote: &Remote, digest: &Digest) -> Result<bool> {
        let registry = remote.registry.as_str();
        let client = self.client(registry);
        let reference = remote.oci();
        let digest = digest.to_string();
        self.with_retry(registry, |deadline| {
            self.with_auth(registry, &client, &reference, deadline, async {
                client
                    .blob_exists(&reference, &digest)
                    .await
                    .map_err(|e| self.classify(registry, e))
            })
        })
    }

    /// Uploads a blob to the repository (monolithic upload; files are streamed). The upload
    /// has the operation's deadline plus a second per [`UPLOAD_RATE`] bytes.
    pub fn put_blob(&self, remote: &Remote, digest: &Digest, source: &BlobSource) -> Result<()> {
        let registry = remote.registry.as_str();
        let client = self.upload_client(registry);
        let reference = remote.oci();
        let digest_text = digest.to_string();
        let bytes = match source {
            BlobSource::Bytes(bytes) => Some(bytes::Bytes::copy_from_slice(bytes)),
            BlobSource::File(_) => None,
        };
        let size = match source {
            BlobSource::Bytes(bytes) => bytes.len() as u64,
            BlobSource::File(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        };
        let deadline = Deadline::new(self.timeouts.total);
        deadline.extend(Duration::from_secs(size / UPLOAD_RATE));
        self.with_retry_within(registry, &deadline, |deadline| {
            let stream = match source {
                BlobSource::File(path) => {
                    let file = std::fs::File::open(path).map_err(|source| Failure {
                        transient: false,
                        error: Error::Io {
                            path: path.clone(),
                            source,
                        },
                    })?;
                    let size = file.metadata().map(|m| m.len()).ok();
                    Some((file_stream(file), size))
                }
                BlobSource::Bytes(_) => None,
            };
            self.with_auth(registry, &client, &reference, deadline, async {
                match (stream, &bytes) {
                    (Some((stream, size)), _) => {
                        client
                            .push_blob_stream(&reference, stream, &digest_text, size)
                            .await
                    }
                    (None, Some(bytes)) => {
                        client
                            .push_blob(&reference, bytes.clone(), &digest_text)
                            .await
                    }
                    (None, None) => unreachable!("a blob source is bytes or a file"),
                }
                .map_err(|e| self.classify(registry, e))
            })
        })?;
        Ok(())
    }

    /// Asks the registry to link a blob from another repository of the same registry into
    /// this one (no upload); `false` when it would not (the caller uploads instead).
    pub fn mount_blob(&self, remote: &Remote, from: &Remote, digest: &Digest) -> Result<bool> {
        if remote.registry != from.registry {
            return Ok(false);
        }
        let registry = remote.registry.as_str();
        let client = self.client(registry);
        let reference = remote.oci();
        let source = from.oci();
        let digest_text = digest.to_string();
        self.with_retry(registry, |deadline| {
            self.with_auth(registry, &client, &reference, deadline, async {
                match client.mount_blob(&reference, &source, &digest_text).await {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        let failure = self.classify(registry, e);
                        if failure.transient {
                            Err(failure)
                        } else {
                            Ok(false)
                        }
                    }
                }
            })
        })
    }

    /// A plain HTTP client with the attempt timeout (for requests oci-client does not make:
    /// the login check, capped manifest downloads).
    pub(super) fn http_client(&self) -> Result<reqwest::Client> {
        let mut http = self.http.lock().expect("http client");
        if let Some(client) = &*http {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.timeouts.attempt)
            .read_timeout(self.timeouts.attempt)
            .build()
            .map_err(|e| registry_error(ErrorKind::Other, format!("http client: {e}")))?;
        *http = Some(client.clone());
        Ok(client)
    }
}

/// A file as a stream of 1 MiB chunks.
fn file_stream(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>>
       + Send
       + 'static {
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buffer = vec![0u8; 1 << 20];
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some((Err(OciDistributionError::IoError(e)), None)),
            }
        }
        if filled == 0 {
            return None;
        }
        buffer.truncate(filled);
        Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_named_registries_are_insecure() {
        let registry = Registry::new(RegistryOptions {
            insecure: vec!["reg.local".into(), "other:5000".into()],
            ..Default::default()
        })
        .unwrap();
        for r in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "reg.local:443",
            "other:5000",
        ] {
            assert!(registry.is_insecure(r), "{r}");
        }
        for r in ["docker.io", "other:5001", "10.0.0.1:5000", "ghcr.io"] {
            assert!(!registry.is_insecure(r), "{r}");
        }
    }

    #[test]
    fn an_unreachable_registry_fails_clearly_after_retries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let registry = Registry::new(RegistryOptions {
            auth: AuthSource::Anonymous,
            retry: RetryPolicy {
                attempts: 2,
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
            },
            ..Default::default()
        })
        .unwrap();
        let remote = Remote::parse(&format!("127.0.0.1:{port}/app:1")).unwrap();
        let error = registry.get_manifest(&remote).unwrap_err().to_string();
        assert!(
            error.contains(&format!("cannot reach registry 127.0.0.1:{port}")),
            "{error}"
        );
        assert!(error.contains("after 2 attempts"), "{error}");
    }
}
