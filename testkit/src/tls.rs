//! Certificates made by a test, in memory (rcgen, ring): a CA of its own
//! and a server certificate it signs for the names a client will check,
//! so TLS is tested end to end with verification on, never turned off.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA and one server certificate it signed, as PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The CA's certificate: what a client trusts (a `ca_file`).
    pub ca_pem: String,
    /// The server's certificate.
    pub cert_pem: String,
    /// The server's private key.
    pub key_pem: String,
}

impl Issued {
    /// A fresh CA named `ca_name` and a server certificate it signs for
    /// `names` (host names or IP addresses, as a client checks them).
    pub fn new(ca_name: &str, names: &[&str]) -> Issued {
        let ca_key = KeyPair::generate().expect("generate the CA's key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
        let issuer = Issuer::new(ca, ca_key);

        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let key = KeyPair::generate().expect("generate the server's key");
        let mut server = CertificateParams::new(names).expect("a valid server name");
        server
            .distinguished_name
            .push(DnType::CommonName, "cordon test server");
        server.use_authority_key_identifier_extension = true;
        let cert = server.signed_by(&key, &issuer).expect("sign the server");
        Issued {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes the CA's certificate to `path` (for a client's `ca_file`).
    pub fn write_ca(&self, path: &Path) {
        std::fs::write(path, &self.ca_pem)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_and_a_server_certificate_are_pem() {
        let issued = Issued::new("test CA", &["127.0.0.1", "localhost"]);
        assert!(issued.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(issued.ca_pem, issued.cert_pem);
    }
}
