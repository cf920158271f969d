//! TLS for every listener and client of a Tessera process: rustls with the ring provider chosen
//! explicitly (never whichever provider another crate in the build switched on), a serving
//! certificate that reloads without a restart (on SIGHUP and when its files change; connections
//! already open keep theirs, new ones get the new one), optional client-certificate verification
//! (mutual TLS), and client configurations trusting a CA file.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context};
use rustls::{
    client::danger::HandshakeSignatureValid,
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, UnixTime},
    server::{
        danger::{ClientCertVerified, ClientCertVerifier},
        ClientHello, ResolvesServerCert, WebPkiClientVerifier,
    },
    sign::CertifiedKey,
    DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};
use tracing::{info, warn};

/// The serving certificate's expiry (Unix seconds), 0 without TLS: one process serves one TLS
/// listener, and its metrics endpoint reads this for the certificate-expiry alert.
static NOT_AFTER: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// When the certificate being served expires (Unix seconds), when serving TLS.
pub fn certificate_not_after() -> Option<i64> {
    match NOT_AFTER.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        at => Some(at),
    }
}

fn record_not_after(key: &CertifiedKey) {
    if let Some(leaf) = key.cert.first() {
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) {
            let at = cert.validity().not_after.timestamp();
            NOT_AFTER.store(at, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Where the listener's certificate, key and (for mutual TLS) client CA are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates; when set, every client must present a certificate they signed.
    pub client_ca: Option<PathBuf>,
    /// How often the certificate and key files are checked for changes.
    pub watch_interval: Duration,
}

/// The serving certificate, swapped in place when its files change; with `--client-ca`, the
/// client-certificate verifier too (a CA added or removed takes effect for new connections
/// without a restart).
pub struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
    clients: Option<Arc<ReloadingClientVerifier>>,
}

struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: FileStamp,
}

/// The modification times of the certificate, key and client CA files, to notice a change.
type FileStamp = (Option<SystemTime>, Option<SystemTime>, Option<SystemTime>);

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.files.cert)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").key.clone())
    }
}

impl ReloadingCert {
    /// Loads the certificate and key, failing with a message that names the bad file.
    pub fn load(files: TlsFiles) -> anyhow::Result<Arc<ReloadingCert>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamp = stamp(&files);
        let key = certified_key(&files, &provider)?;
        record_not_after(&key);
        let clients = match &files.client_ca {
            Some(ca) => Some(Arc::new(ReloadingClientVerifier {
                current: RwLock::new(client_verifier(ca, &provider)?),
            })),
            None => None,
        };
        Ok(Arc::new(ReloadingCert {
            files,
            provider,
            current: RwLock::new(Loaded { key, stamp }),
            clients,
        }))
    }

    /// Reads the files again; a broken pair keeps the current certificate, a broken CA file the
    /// current client CAs (and each says why). True when everything was reloaded.
    pub fn reload(&self) -> bool {
        let clients_reloaded = match (&self.clients, &self.files.client_ca) {
            (Some(clients), Some(ca)) => match client_verifier(ca, &self.provider) {
                Ok(verifier) => {
                    *clients.current.write().expect("client CA lock") = verifier;
                    info!(client_ca = %ca.display(), "client CA reloaded");
                    true
                }
                Err(err) => {
                    warn!(error = %format!("{err:#}"), "client CA not reloaded; keeping the current one");
                    false
                }
            },
            _ => true,
        };
        self.reload_certificate() && clients_reloaded
    }

    fn reload_certificate(&self) -> bool {
        let stamp = stamp(&self.files);
        match certified_key(&self.files, &self.provider) {
            Ok(key) => {
                record_not_after(&key);
                *self.current.write().expect("certificate lock") = Loaded { key, stamp };
                info!(cert = %self.files.cert.display(), "tls certificate reloaded");
                true
            }
            Err(err) => {
                // Remember the stamp anyway so a broken file is reported once, not every poll.
                self.current.write().expect("certificate lock").stamp = stamp;
                warn!(error = %format!("{err:#}"), "tls certificate not reloaded; keeping the current one");
                false
            }
        }
    }

    fn changed(&self) -> bool {
        self.current.read().expect("certificate lock").stamp != stamp(&self.files)
    }

    /// The rustls configuration serving this certificate with these ALPN protocols (`h2` only
    /// for gRPC; `h2` and `http/1.1` for HTTP; none for a line protocol), with client-certificate
    /// verification when a client CA is configured.
    pub fn server_config(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let builder = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("tls protocol versions")?;
        let builder = match &self.clients {
            None => builder.with_no_client_auth(),
            Some(clients) => builder.with_client_cert_verifier(clients.clone()),
        };
        let mut config = builder.with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// Reloads on SIGHUP and whenever the files' modification times change (a rotated Kubernetes
    /// secret or a certbot renewal), until the process ends.
    pub fn spawn_watcher(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.files.watch_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = hangups.recv() => { this.reload(); }
                    _ = tick.tick() => if this.changed() { this.reload(); },
                }
            }
        });
        Ok(())
    }
}

fn stamp(files: &TlsFiles) -> FileStamp {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (
        modified(&files.cert),
        modified(&files.key),
        files.client_ca.as_deref().and_then(modified),
    )
}

/// A verifier of client certificates signed by the CAs in `ca` (`--client-ca`).
fn client_verifier(
    ca: &Path,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca, "--client-ca")? {
        roots
            .add(cert)
            .with_context(|| format!("--client-ca: unusable CA in {}", ca.display()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .with_context(|| format!("--client-ca: {}", ca.display()))
}

/// The client-certificate verifier in use, swapped when the CA file is reloaded. Every client
/// must present a certificate. It names no CAs in its request (a reloadable list cannot be lent
/// out): clients send their certificate regardless, and it is checked against the current CAs.
#[derive(Debug)]
pub struct ReloadingClientVerifier {
    current: RwLock<Arc<dyn ClientCertVerifier>>,
}

impl ReloadingClientVerifier {
    fn now(&self) -> Arc<dyn ClientCertVerifier> {
        self.current.read().expect("client CA lock").clone()
    }
}

impl ClientCertVerifier for ReloadingClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.now()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.now().supported_verify_schemes()
    }
}

fn read_certs(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{flag}: cannot read {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag}: invalid PEM in {}", path.display()))?;
    if certs.is_empty() {
        bail!("{flag}: no certificate in {}", path.display());
    }
    Ok(certs)
}

fn certified_key(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = read_certs(&files.cert, "--tls-cert")?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("--tls-key: no private key in {}", files.key.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("--tls-key: unusable key in {}", files.key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().with_context(|| {
        format!(
            "--tls-cert and --tls-key do not match ({} / {})",
            files.cert.display(),
            files.key.display()
        )
    })?;
    Ok(Arc::new(certified))
}

/// A listener's TLS: the reloading certificate and the configuration serving it.
#[derive(Debug, Clone)]
pub struct Serving {
    /// The certificate, reloaded in place.
    pub cert: Arc<ReloadingCert>,
    /// What the acceptor serves with.
    pub config: Arc<rustls::ServerConfig>,
}

impl Serving {
    /// Loads a certificate and key (no client certificates asked for) and builds the serving
    /// configuration; call [`ReloadingCert::spawn_watcher`] on `cert` once a runtime runs, so the
    /// files are read again on SIGHUP and when they change (checked every `watch_interval`).
    pub fn load(
        cert: &Path,
        key: &Path,
        watch_interval: Duration,
        alpn: &[&[u8]],
    ) -> anyhow::Result<Serving> {
        let cert = ReloadingCert::load(TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: None,
            watch_interval,
        })?;
        let config = cert.server_config(alpn)?;
        Ok(Serving { cert, config })
    }
}

/// TLS settings for connecting to a server whose certificate one of the CAs in `ca` signed.
pub fn client_config(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca, "CA file")? {
        roots
            .add(cert)
            .with_context(|| format!("unusable CA certificate in {}", ca.display()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("tls protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests;
