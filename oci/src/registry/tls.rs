//! Telling TLS failures apart by their type: an untrusted certificate and a registry that
//! does not speak TLS get their own advice (the CA, or `--insecure-registry`).

/// What went wrong in a TLS handshake, found by the error's type (rustls's), not its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsFailure {
    /// The registry's certificate is not trusted (or missing).
    Untrusted,
    /// What came back is not TLS at all: a plain-HTTP registry spoken to over HTTPS.
    NotTls,
}

/// The TLS failure somewhere in `error`'s chain. rustls's error sits inside `io::Error`s
/// (tokio-rustls's inside hyper's), whose `source()` skips their payload, so the walk goes
/// through each `io::Error`'s payload instead.
pub(super) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let classify = |tls: &rustls::Error| match tls {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            Some(TlsFailure::Untrusted)
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            Some(TlsFailure::NotTls)
        }
        _ => None,
    };
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return classify(tls);
        }
        // An io::Error's payload (which may be another io::Error) is where rustls's error
        // sits; its `source()` would skip over it.
        current = match error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(payload) => Some(payload as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose cause is `source`, as reqwest and hyper wrap one.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn rustls_errors_are_found_inside_io_errors() {
        let untrusted = Wrapped(std::io::Error::other(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        )));
        // As hyper hands it over: an io::Error around tokio-rustls's io::Error.
        let nested = Wrapped(std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        )));
        assert_eq!(tls_failure(&nested), Some(TlsFailure::NotTls));
        assert_eq!(tls_failure(&untrusted), Some(TlsFailure::Untrusted));
        let plain_http = Wrapped(std::io::Error::other(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        )));
        assert_eq!(tls_failure(&plain_http), Some(TlsFailure::NotTls));
        // A message that merely mentions certificates is not a certificate failure.
        let other = Wrapped(std::io::Error::other("certificate of deposit"));
        assert_eq!(tls_failure(&other), None);
    }
}
