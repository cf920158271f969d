//! The listener: accepts TCP connections (TLS when configured), serves HTTP/1.1 and HTTP/2 with
//! upgrades, and bounds what a client can make the edge hold.
//!
//! * at most `max_connections` connections, and at most `max_pending_per_source` from one source
//!   address that have not yet sent their first request head (slow or silent clients from one
//!   address cannot take every slot); a connection over either cap is refused at once (plain
//!   HTTP: a `503 busy` with `Retry-After: 1`, then closed; TLS: closed), never left queueing
//!   (admission shared with the other listeners: [`tessera_process::admission`]);
//! * the TLS handshake and the first request head must be done within `header_timeout` of the
//!   accept, each later request head within `header_timeout` of its start (slow clients);
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
use tessera_process::admission::{
    AdmissionLimits, AdmittedConnection, ListenerAdmission, PendingSlot,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::debug;

use crate::answer::Answer;

/// How long connections get to finish when the edge stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Limits of the listener.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Time for the TLS handshake and the first request head together, and for each later head.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one source address may hold before their first request head.
    pub max_pending_per_source: usize,
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
    let admission = ListenerAdmission::new(AdmissionLimits {
        max_connections: limits.max_connections,
        max_pending_per_source: limits.max_pending_per_source,
    });
    let busy = Answer::busy().to_http1_bytes();
    let (stop_tx, stop_rx) = watch::channel(false);
    let builder = Arc::new(builder(&limits));
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer, admitted) = tokio::select! {
            accepted = admission.accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let Ok(admitted) = admitted else {
            // Best effort and never blocking: the accept loop must not wait on a refused client.
            // Under TLS nothing can be said before a handshake, so it is just closed.
            if acceptor.is_none() {
                let _ = stream.try_write(&busy);
            }
            continue;
        };
        let connection = Connection {
            app: app.clone(),
            builder: builder.clone(),
            acceptor: acceptor.clone(),
            stop: stop_rx.clone(),
            header_timeout: limits.header_timeout,
        };
        tokio::spawn(connection.run(stream, peer, admitted));
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, admission.all_closed()).await;
}

struct Connection {
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    acceptor: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
    header_timeout: Duration,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr, admitted: AdmittedConnection) {
        let AdmittedConnection { slot, pending } = admitted;
        let _slot = slot;
        // The handshake and the first head share one deadline: a client that dribbles either
        // holds its source's pending place no longer than `header_timeout`.
        let deadline = Instant::now() + self.header_timeout;
        match self.acceptor.clone() {
            Some(acceptor) => {
                match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => self.serve(TokioIo::new(tls), peer, pending, deadline).await,
                    Ok(Err(error)) => debug!(%peer, error = %error, "tls handshake failed"),
                    Err(_) => debug!(%peer, "tls handshake timed out"),
                }
            }
            None => {
                self.serve(TokioIo::new(stream), peer, pending, deadline)
                    .await;
            }
        }
    }

    async fn serve<I>(self, io: I, peer: SocketAddr, pending: PendingSlot, deadline: Instant)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let app = self.app;
        let head_seen = Arc::new(Notify::new());
        let seen = head_seen.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            seen.notify_one();
            request.extensions_mut().insert(ClientAddr(peer));
            app.clone().oneshot(request)
        });
        // hyper's own header timeout starts only once it knows the HTTP version, so a client that
        // sends a byte or two and stops would otherwise never be timed out.
        let first_head = async move {
            if tokio::time::timeout_at(deadline, head_seen.notified())
                .await
                .is_ok()
            {
                drop(pending);
                std::future::pending::<()>().await;
            }
        };
        let connection = self.builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let mut stop = self.stop;
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    debug!(%peer, error = %error, "connection ended with an error");
                }
            }
            () = first_head => debug!(%peer, "no request head within the header timeout; closed"),
            () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
            }
        }
    }
}
