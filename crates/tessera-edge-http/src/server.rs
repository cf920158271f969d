//! The listener: accepts TCP connections (TLS when configured), serves HTTP/1.1 and HTTP/2 with
//! upgrades, and bounds what a client can make the edge hold.
//!
//! * at most `max_connections` connections; further ones wait in the kernel's accept queue;
//! * the TLS handshake and each request head must arrive within `header_timeout` (slow clients);
//! * a request head over `max_header_bytes` gets 431 (hyper for HTTP/1, the guard in
//!   [`crate::app`] for HTTP/2);
//! * on shutdown, connections finish their requests for up to [`SHUTDOWN_GRACE`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, warn};

/// How long connections get to finish when the edge stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Limits of the listener.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Time for the TLS handshake and for each request head.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// The client's address, put in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

fn builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper answers 431 when a head does not fit its read buffer (8 KiB at least).
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let builder = Arc::new(builder(&limits));
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            app: app.clone(),
            builder: builder.clone(),
            acceptor: acceptor.clone(),
            stop: stop_rx.clone(),
            header_timeout: limits.header_timeout,
        };
        tokio::spawn(async move {
            connection.run(stream, peer).await;
            drop(slot);
        });
    }
    let _ = stop_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
}

struct Connection {
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    acceptor: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
    header_timeout: Duration,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr) {
        match self.acceptor.clone() {
            Some(acceptor) => {
                match tokio::time::timeout(self.header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => self.serve(TokioIo::new(tls), peer).await,
                    Ok(Err(error)) => debug!(%peer, error = %error, "tls handshake failed"),
                    Err(_) => debug!(%peer, "tls handshake timed out"),
                }
            }
            None => self.serve(TokioIo::new(stream), peer).await,
        }
    }

    async fn serve<I>(self, io: I, peer: SocketAddr)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let app = self.app;
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer));
            app.clone().oneshot(request)
        });
        let connection = self.builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let mut stop = self.stop;
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    debug!(%peer, error = %error, "connection ended with an error");
                }
            }
            () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
            }
        }
    }
}
