//! What every TLS client of cordond shares: the trust anchors read from a
//! configured PEM file (the PostgreSQL store's `store.tls.ca_file`, a
//! webhook's `ca_file`).

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The certificates in the PEM file at `path` as trust anchors; `key` is
/// the config key that named it, for the message.
pub fn roots(path: &Path, key: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {key} {}: {e}", path.display()))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| format!("{key} {} is not PEM certificates: {e}", path.display()))?;
        roots.add(cert).map_err(|e| {
            format!(
                "{key} {} holds a certificate rustls refuses: {e}",
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!("{key} {} holds no certificate", path.display()));
    }
    Ok(roots)
}

/// A TLS client config over `roots` with ring and the safe protocol
/// versions (TLS 1.2 and 1.3), no client certificate.
pub fn client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, String> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The rustls error somewhere in `e`'s chain of sources, if TLS is why
/// `e` happened. Looks inside I/O errors too: TLS streams report rustls'
/// errors wrapped in one, and `io::Error::source` skips what it wraps.
pub fn rustls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rustls_error_is_found_inside_an_io_error_inside_another_error() {
        #[derive(Debug, thiserror::Error)]
        #[error("connecting failed")]
        struct Outer(#[source] std::io::Error);
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let outer = Outer(io);
        assert_eq!(
            rustls_cause(&outer),
            Some(&rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        );
        let plain = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(rustls_cause(&plain), None);
    }
}
