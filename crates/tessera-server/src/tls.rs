//! TLS on the gRPC listener: the serving certificate comes from `tessera_process::tls` (reloaded
//! without a restart); here are the accept loop and mutual TLS, whose client identity is put into
//! each request's extensions for the audit trail.
//!
//! The handshake runs per connection in its own task, bounded by a timeout, so one slow or silent
//! client never holds up the others' accepts.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Duration,
};

use rustls::pki_types::CertificateDer;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::{debug, warn};

pub use tessera_process::tls::{certificate_not_after, ReloadingCert, TlsFiles, HANDSHAKE_TIMEOUT};

/// The identity of a client certificate (mutual TLS): its subject, for the audit trail and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub String);

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

/// The client's IP address: from the TLS connection's identity, else from the plain TCP
/// connection tonic describes.
pub fn peer_ip<T>(request: &tonic::Request<T>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<PeerIdentity>()
        .and_then(|peer| peer.remote_addr)
        .or_else(|| request.remote_addr())
        .map(|addr| addr.ip())
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
mod tests {
    use super::*;

    #[test]
    fn client_subject_reads_the_distinguished_name() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["billing".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "billing");
        let cert = params.self_signed(&key).unwrap();
        let subject = client_subject(cert.der()).unwrap();
        assert!(subject.contains("CN=billing"), "{subject}");
    }
}
