//! The gRPC listener's connections: which are taken on, how soon they must show they speak gRPC,
//! and how long they may sit without a call.
//!
//! * at most `max_connections` at once, and at most `max_pending_per_source` from one source
//!   address that have not yet shown they are gRPC clients ([`tessera_process::admission`], the
//!   same admission as the edges'); a connection over either cap is closed at once, never queued;
//! * the TLS handshake (under TLS) and the HTTP/2 client preface must both arrive within
//!   `preface_timeout` of the accept, or the connection is closed: a silent client holds its place
//!   only that long;
//! * a connection with no call (stream) open for `idle_timeout` is closed; a client reconnects on
//!   its next call, and one following `WatchRevocations` always has a stream open.
//!
//! Each accepted connection is checked on its own task, so a slow client never holds up the
//! others' accepts. Refusals and closes are logged at debug (warn when every slot is taken) with
//! the peer address only, and counted in [`ConnectionStats`].

use std::{
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
};
use tessera_process::admission::{AdmissionLimits, ListenerAdmission};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::OwnedSemaphorePermit,
    time::{Instant, Sleep},
};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::debug;

use crate::tls::ClientCertificate;

mod open_streams;
mod transport;

use open_streams::OpenStreams;
pub use open_streams::{CallBody, OpenStreamsLayer, OpenStreamsService};
use transport::Transport;

/// What every HTTP/2 client sends first (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The limits of the gRPC listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one source address may hold before their TLS handshake and HTTP/2 preface.
    pub max_pending_per_source: usize,
    /// Time from the accept to the end of the TLS handshake and the HTTP/2 preface.
    pub preface_timeout: Duration,
    /// Time a connection may stay open with no call on it.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_pending_per_source: 256,
            preface_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// The listener's counters, registered by `observability::registry` for `/metrics`:
/// `tessera_connections_open`, `tessera_connections_refused_total{reason}` (`source_busy`,
/// `full`) and `tessera_connections_closed_total{reason}` (`preface_timeout`, `not_grpc`,
/// `idle`) for connections the server closed itself.
#[derive(Debug, Clone, Default)]
pub struct ConnectionStats {
    /// Connections open now (past their preface).
    pub open: Gauge,
    refused: Family<ReasonLabels, Counter>,
    closed: Family<ReasonLabels, Counter>,
}

impl ConnectionStats {
    /// Adds the series to `registry`.
    pub fn register(&self, registry: &mut tessera_telemetry::metrics::Registry) {
        registry.register(
            "tessera_connections_open",
            "gRPC connections open past their preface",
            self.open.clone(),
        );
        // prometheus-client appends `_total` to counters.
        registry.register(
            "tessera_connections_refused",
            "gRPC connections closed at accept: source_busy (its address holds too many not yet past their preface) or full (every slot taken)",
            self.refused.clone(),
        );
        registry.register(
            "tessera_connections_closed",
            "gRPC connections the server closed: preface_timeout, not_grpc (no HTTP/2 preface) or idle (no call for --idle-timeout)",
            self.closed.clone(),
        );
    }

    fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabels { reason }).inc();
    }

    fn closed(&self, reason: &'static str) {
        self.closed.get_or_create(&ReasonLabels { reason }).inc();
    }
}

/// Who is at the other end of a connection: its address and, under mutual TLS, its certificate.
/// tonic puts it into every request's extensions.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// The client's socket address.
    pub remote_addr: Option<SocketAddr>,
    /// The verified client certificate's subject, under mutual TLS.
    pub client_certificate: Option<ClientCertificate>,
    streams: OpenStreams,
}

/// Accepts TCP connections (Nagle off), admits them, completes their TLS handshakes (when
/// `tls`) and checks their HTTP/2 prefaces concurrently, and yields the connections that pass to
/// the gRPC server. Stops accepting (closing the listener) once the server stops taking them.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
    stats: ConnectionStats,
) -> ReceiverStream<io::Result<GrpcConnection>> {
    let admission = ListenerAdmission::new(AdmissionLimits {
        max_connections: limits.max_connections,
        max_pending_per_source: limits.max_pending_per_source,
    });
    let acceptor = tls.map(TlsAcceptor::from);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer, admitted) = tokio::select! {
                () = tx.closed() => return,
                accepted = admission.accept(&listener) => accepted,
            };
            let admitted = match admitted {
                Ok(admitted) => admitted,
                Err(refusal) => {
                    stats.refused(refusal.as_str());
                    continue;
                }
            };
            let (acceptor, tx, stats) = (acceptor.clone(), tx.clone(), stats.clone());
            tokio::spawn(async move {
                let deadline = Instant::now() + limits.preface_timeout;
                let shown = tokio::time::timeout_at(deadline, preface(tcp, acceptor)).await;
                let transport = match shown {
                    Ok(Ok(transport)) => transport,
                    Ok(Err(err)) => {
                        debug!(%peer, error = %err, "no http/2 preface; closed");
                        stats.closed("not_grpc");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, timeout = ?limits.preface_timeout, "no tls handshake and http/2 preface in time; closed");
                        stats.closed("preface_timeout");
                        return;
                    }
                };
                let connection = GrpcConnection::new(
                    transport,
                    peer,
                    admitted.shown(),
                    limits.idle_timeout,
                    stats,
                );
                let _ = tx.send(Ok(connection)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Completes the TLS handshake, if any, and reads the HTTP/2 client preface.
async fn preface(tcp: TcpStream, acceptor: Option<TlsAcceptor>) -> io::Result<Transport> {
    let mut transport = match acceptor {
        Some(acceptor) => Transport::Tls(Box::new(acceptor.accept(tcp).await?)),
        None => Transport::Plain(tcp),
    };
    let mut first = [0u8; HTTP2_PREFACE.len()];
    transport.read_exact(&mut first).await?;
    if &first != HTTP2_PREFACE {
        refuse_not_http2(&mut transport).await;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an http/2 preface",
        ));
    }
    Ok(transport)
}

/// A GOAWAY frame (stream 0, last stream 0, PROTOCOL_ERROR).
const GOAWAY_PROTOCOL_ERROR: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Answers a client that did not open with the preface as an HTTP/2 server does, with a GOAWAY:
/// a TLS client dialling this plaintext port then reads a record that is not TLS, and says so
/// ("the server speaks plaintext"). Then reads what the client already sent, up to a bound and
/// within the caller's deadline, so that closing does not reset the connection before the client
/// has read the answer.
async fn refuse_not_http2(transport: &mut Transport) {
    use tokio::io::AsyncWriteExt;
    if transport.write_all(&GOAWAY_PROTOCOL_ERROR).await.is_err() {
        return;
    }
    let _ = transport.flush().await;
    let mut drained = 0usize;
    let mut buffer = [0u8; 4096];
    while drained < 64 * 1024 {
        match transport.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// A connection past its preface, as the gRPC server reads it: the preface (already read and
/// checked) first, then the transport; its connection slot is held until it is dropped, and it
/// ends itself once idle for the idle timeout.
pub struct GrpcConnection {
    transport: Transport,
    identity: PeerIdentity,
    preface_left: usize,
    idle: IdleTimer,
    stats: ConnectionStats,
    _slot: OwnedSemaphorePermit,
}

/// Fires once a connection has had no call open for its timeout.
struct IdleTimer {
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimer {
    /// Ready once the connection is idle; otherwise registers the wake-up that checks again.
    fn poll_idle(&mut self, streams: &OpenStreams, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = match streams.idle_since() {
                Some(since) => since + self.timeout,
                None => Instant::now() + self.timeout,
            };
            if due <= Instant::now() {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(due);
        }
    }
}

impl GrpcConnection {
    fn new(
        transport: Transport,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
        idle_timeout: Duration,
        stats: ConnectionStats,
    ) -> GrpcConnection {
        let client_certificate = match &transport {
            Transport::Tls(stream) => stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(ClientCertificate::of),
            Transport::Plain(_) => None,
        };
        stats.open.inc();
        GrpcConnection {
            transport,
            identity: PeerIdentity {
                remote_addr: Some(peer),
                client_certificate,
                streams: OpenStreams::new(),
            },
            preface_left: HTTP2_PREFACE.len(),
            idle: IdleTimer {
                timeout: idle_timeout,
                sleep: Box::pin(tokio::time::sleep(idle_timeout)),
            },
            stats,
            _slot: slot,
        }
    }

    /// The source address, for logs.
    fn source(&self) -> Option<IpAddr> {
        self.identity.remote_addr.map(|addr| addr.ip())
    }
}

impl Drop for GrpcConnection {
    fn drop(&mut self) {
        self.stats.open.dec();
    }
}

impl Connected for GrpcConnection {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.identity.clone()
    }
}

impl AsyncRead for GrpcConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // The HTTP/2 server always has a read pending, so its task wakes here when the timer
        // fires; an error ends the connection (no call is open to lose).
        let this = &mut *self;
        if this.idle.poll_idle(&this.identity.streams, cx).is_ready() {
            debug!(source = ?this.source(), timeout = ?this.idle.timeout, "connection idle; closed");
            this.stats.closed("idle");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle",
            )));
        }
        if this.preface_left > 0 {
            let start = HTTP2_PREFACE.len() - this.preface_left;
            let n = this.preface_left.min(buf.remaining());
            buf.put_slice(&HTTP2_PREFACE[start..start + n]);
            this.preface_left -= n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.transport).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.transport).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.transport).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.transport).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.transport).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.transport.is_write_vectored()
    }
}
