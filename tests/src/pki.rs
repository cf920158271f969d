//! A private PKI for TLS tests (rcgen): a CA, a server certificate for `localhost` and
//! `127.0.0.1`, and a client certificate, all as PEM text.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// The common name of [`Pki::client_cert`].
pub const CLIENT_NAME: &str = "billing-service";

/// A private CA with a server certificate for the loopback address and a client certificate.
pub struct Pki {
    /// The CA certificate.
    pub ca: String,
    /// The server certificate (`localhost`, `127.0.0.1`), signed by the CA.
    pub server_cert: String,
    /// The server certificate's key.
    pub server_key: String,
    /// A client certificate named [`CLIENT_NAME`], signed by the CA.
    pub client_cert: String,
    /// The client certificate's key.
    pub client_key: String,
}

impl Pki {
    /// A fresh PKI whose CA is called `<name> test ca`.
    pub fn new(name: &str) -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test ca"));
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let server_cert =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params")
                .signed_by(&server_key, &issuer)
                .expect("server certificate");
        let client_key = KeyPair::generate().expect("client key");
        let mut client_params =
            CertificateParams::new(Vec::<String>::new()).expect("client params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, CLIENT_NAME);
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .expect("client certificate");
        Pki {
            ca: ca_cert.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            client_cert: client_cert.pem(),
            client_key: client_key.serialize_pem(),
        }
    }

    /// Writes `ca.pem`, `tls.crt` and `tls.key` (the server's pair) into `dir`; the key first, so
    /// a certificate watcher that looks in between sees a mismatched pair and keeps the old one.
    pub fn write_server_files(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::write(dir.join("tls.key"), &self.server_key)?;
        std::fs::write(dir.join("tls.crt"), &self.server_cert)?;
        std::fs::write(dir.join("ca.pem"), &self.ca)
    }
}
