//! TLS on the gRPC listener: rustls (ring), a certificate that is reloaded without a restart (on
//! SIGHUP and when its files change), and optional mutual TLS whose client identity is put into
//! each request's extensions for the audit trail.
//!
//! The handshake runs per connection in its own task, bounded by a timeout, so one slow or silent
//! client never holds up the others' accepts.

use std::{
    fmt, io,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, RwLock},
    task::{Context as TaskContext, Poll},
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context};
use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier},
    sign::CertifiedKey,
    RootCertStore,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::{debug, info, warn};

/// The serving certificate's expiry (Unix seconds), 0 without TLS: one process serves one gRPC
/// listener, and the metrics endpoint reads it for the certificate-expiry alert.
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

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The identity of a client certificate (mutual TLS): its subject, for the audit trail and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub String);

/// The serving certificate, swapped in place when its files change.
pub struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: FileStamp,
}

/// The modification times of the certificate and key files, to notice a change.
type FileStamp = (Option<SystemTime>, Option<SystemTime>);

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
        Ok(Arc::new(ReloadingCert {
            files,
            provider,
            current: RwLock::new(Loaded { key, stamp }),
        }))
    }

    /// Reads the files again; a broken pair keeps the current certificate (and says why).
    pub fn reload(&self) -> bool {
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

    /// The rustls configuration serving this certificate (HTTP/2 only, as gRPC needs), with
    /// client-certificate verification when a client CA is configured.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let builder = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("tls protocol versions")?;
        let builder = match &self.files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca, "--client-ca")? {
                    roots
                        .add(cert)
                        .with_context(|| format!("--client-ca: unusable CA in {}", ca.display()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    self.provider.clone(),
                )
                .build()
                .with_context(|| format!("--client-ca: {}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec()];
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
    (modified(&files.cert), modified(&files.key))
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

/// A TLS connection with its client's identity, read once at the handshake. tonic puts its
/// [`PeerIdentity`] into every request's extensions.
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    identity: PeerIdentity,
}

/// Who is at the other end of a connection: its address and, under mutual TLS, its certificate.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// The client's socket address.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// The verified client certificate's subject, under mutual TLS.
    pub client_certificate: Option<ClientCertificate>,
}

impl TlsConnection {
    fn new(stream: TlsStream<TcpStream>) -> TlsConnection {
        let (tcp, session) = stream.get_ref();
        let client_certificate = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(client_subject)
            .map(ClientCertificate);
        let identity = PeerIdentity {
            remote_addr: tcp.peer_addr().ok(),
            client_certificate,
        };
        TlsConnection { stream, identity }
    }
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.identity.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepts TCP connections (Nagle off), completes their TLS handshakes concurrently, and yields
/// the finished connections to the gRPC server.
pub fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> ReceiverStream<io::Result<TlsConnection>> {
    let acceptor = TlsAcceptor::from(config);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            if tx.is_closed() {
                return;
            }
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(TlsConnection::new(stream))).await;
                    }
                    Ok(Err(err)) => debug!(%peer, error = %err, "tls handshake failed"),
                    Err(_) => debug!(%peer, "tls handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

tokio::task_local! {
    /// The client certificate of the connection the current call came in on (mutual TLS).
    static CLIENT_CERTIFICATE: Option<ClientCertificate>;
}

/// The current call's client certificate, under mutual TLS; read when writing the audit trail.
pub fn current_client_certificate() -> Option<ClientCertificate> {
    CLIENT_CERTIFICATE.try_with(Clone::clone).ok().flatten()
}

/// Runs `work` with `certificate` as the current call's client certificate: for work a call hands
/// to a task of its own (task-locals do not cross `tokio::spawn`).
pub async fn with_client_certificate<F: std::future::Future>(
    certificate: Option<ClientCertificate>,
    work: F,
) -> F::Output {
    CLIENT_CERTIFICATE.scope(certificate, work).await
}

/// Runs each call with its connection's client certificate in scope, so the audit trail can
/// record it without every use case passing it along.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCertificateLayer;

impl<S> tower::Layer<S> for ClientCertificateLayer {
    type Service = ClientCertificateScope<S>;

    fn layer(&self, inner: S) -> ClientCertificateScope<S> {
        ClientCertificateScope { inner }
    }
}

/// The service of [`ClientCertificateLayer`].
#[derive(Debug, Clone)]
pub struct ClientCertificateScope<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for ClientCertificateScope<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tokio::task::futures::TaskLocalFuture<Option<ClientCertificate>, S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let certificate = request
            .extensions()
            .get::<PeerIdentity>()
            .and_then(|peer| peer.client_certificate.clone());
        CLIENT_CERTIFICATE.scope(certificate, self.inner.call(request))
    }
}

/// The subject of a verified client certificate, e.g. `CN=billing,O=example`.
pub fn client_subject(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.subject().to_string())
}

#[cfg(test)]
mod tests;
