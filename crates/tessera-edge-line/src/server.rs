//! The listener: connection limit, optional TLS, one task per client.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::reply::EdgeReply;
use crate::session::{self, EdgeContext};
use crate::BoxedIo;

/// Accepts clients and serves each on its own task.
pub struct EdgeServer {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: Arc<EdgeContext>,
    permits: Arc<Semaphore>,
}

impl EdgeServer {
    /// A server on a bound listener; `tls` makes every client speak TLS.
    pub fn new(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        ctx: Arc<EdgeContext>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(ctx.limits.max_connections));
        Self {
            listener,
            tls: tls.map(tokio_rustls::TlsAcceptor::from),
            ctx,
            permits,
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => {
                    info!("shutting down");
                    return;
                }
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Typically out of file descriptors: back off briefly instead of spinning.
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                warn!(%peer, limit = self.ctx.limits.max_connections, "connection limit reached");
                if self.tls.is_none() {
                    // Best effort and never blocking: the listener must not wait on a refused client.
                    let _ = stream.try_write(format!("{}\n", EdgeReply::Busy.line()).as_bytes());
                }
                continue;
            };
            let ctx = self.ctx.clone();
            let tls = self.tls.clone();
            let span = tracing::info_span!("client", %peer);
            tokio::spawn(
                async move {
                    let _permit = permit;
                    let deadline = Instant::now() + ctx.limits.auth_timeout;
                    let _ = stream.set_nodelay(true);
                    let io: BoxedIo = match tls {
                        None => Box::new(stream),
                        Some(acceptor) => {
                            match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => Box::new(stream),
                                Ok(Err(error)) => {
                                    debug!(%error, "tls handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    debug!("tls handshake timed out");
                                    return;
                                }
                            }
                        }
                    };
                    session::serve(io, ctx, deadline).await;
                    debug!("connection closed");
                }
                .instrument(span),
            );
        }
    }
}
