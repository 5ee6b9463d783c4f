//! Turning `oci-client`'s errors into strata's: what kind of failure it is (found by the
//! error's type and HTTP status, TLS failures by rustls's type in `tls.rs`), a message that
//! names the registry and says what to do, and whether a retry may help.

use oci_client::errors::{OciDistributionError, OciErrorCode};

use super::client::Registry;
use super::retry::Failure;
use super::tls::{tls_failure, TlsFailure};
use super::ErrorKind;
use crate::error::Error;

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

impl Registry {
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
                let tls = tls_failure(&e);
                if tls == Some(TlsFailure::Untrusted) {
                    return fatal(
                        ErrorKind::Network,
                        format!(
                            "registry {registry}: its TLS certificate is not trusted: {cause} (add its CA to the system's trust store, or use --insecure-registry {registry} for plain HTTP)"
                        ),
                    );
                }
                if !self.is_insecure(registry) && tls == Some(TlsFailure::NotTls) {
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
}
