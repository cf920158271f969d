//! Certificate rotation, as an operator does it: a private CA, a serving certificate for
//! `localhost` and `127.0.0.1` written to files, replaced by a new one signed by the same CA
//! (through a rename, as cert-manager and certbot do), and a client that trusts the CA and reports
//! which certificate a listener serves.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A serving certificate in files that can be rotated.
pub struct RotatingCert {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    ca: CertificateDer<'static>,
    serial: u64,
    current: Vec<u8>,
}

impl RotatingCert {
    /// A CA and a first certificate, written to [`RotatingCert::cert`] and [`RotatingCert::key`].
    pub fn new() -> RotatingCert {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "rotation test ca");
        let ca = params.self_signed(&ca_key).expect("CA").der().clone();
        let mut rotating = RotatingCert {
            dir: tempfile::tempdir().expect("tempdir"),
            issuer: Issuer::new(params, ca_key),
            ca,
            serial: 0,
            current: Vec::new(),
        };
        rotating.rotate();
        rotating
    }

    /// The certificate chain file.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    /// The key file.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }

    /// The DER of the certificate now in the files.
    pub fn current(&self) -> &[u8] {
        &self.current
    }

    /// Writes a new certificate and key (new key pair, same CA), each through a rename; returns
    /// its DER.
    pub fn rotate(&mut self) -> Vec<u8> {
        self.serial += 1;
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("generation {}", self.serial));
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        replace(&self.key(), &key.serialize_pem());
        replace(&self.cert(), &cert.pem());
        self.current = cert.der().to_vec();
        self.current.clone()
    }

    /// A client configuration trusting the CA, offering these ALPN protocols.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("trust the CA");
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A verified TLS connection to `addr` (as `localhost`).
    pub async fn connect(&self, addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let connector = tokio_rustls::TlsConnector::from(self.client_config(alpn));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        connector.connect(name, tcp).await.expect("tls handshake")
    }

    /// Connects until the listener serves the certificate now in the files, for at most `within`.
    pub async fn wait_until_served(&self, addr: SocketAddr, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if served(&self.connect(addr, &[]).await) == self.current {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Default for RotatingCert {
    fn default() -> Self {
        RotatingCert::new()
    }
}

/// The leaf certificate a connection was served.
pub fn served(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    let (_, session) = stream.get_ref();
    session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.as_ref().to_vec())
        .unwrap_or_default()
}

/// Sends SIGHUP to a process: "read your certificate again".
pub fn hang_up(pid: u32) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
}

fn replace(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).expect("write");
    std::fs::rename(&partial, path).expect("rename");
}
