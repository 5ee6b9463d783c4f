//! The synchronous registry facade over `oci-client`: owns a small tokio runtime, one
//! `oci-client` client per registry (HTTP for insecure ones), credentials per registry, and
//! the timeouts of each request. Its operations live beside it: downloads (manifests capped in
//! size, blobs checked against their size and digest) in `download.rs`, uploads in `upload.rs`,
//! retries in `retry.rs`, and the reading of `oci-client`'s errors in `classify.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use strata_cache::Digest;

use super::auth::{AuthSource, Resolver};
use super::classify::registry_error;
use super::retry::{Deadline, Failure, RetryPolicy, Timeouts};
use super::ErrorKind;
use crate::error::Result;
use crate::image::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

pub(super) const USER_AGENT: &str = concat!("strata/", env!("CARGO_PKG_VERSION"));

/// The manifest media types strata asks for.
pub(super) const ACCEPTED_MANIFESTS: [&str; 4] =
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

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
    pub(super) auth: Resolver,
    pub(super) retry: RetryPolicy,
    pub(super) timeouts: Timeouts,
    pub(super) notify: Option<Notify>,
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
    pub(super) fn upload_client(&self, registry: &str) -> oci_client::Client {
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
    pub(super) fn with_auth<T>(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::Remote;

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
