//! The listener: connection limit, a cap per source address on connections that have not yet
//! authenticated, optional TLS, one task per client.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::reply::EdgeReply;
use crate::session::{self, EdgeContext};
use crate::BoxedIo;

/// Connections per source address that have not authenticated yet.
#[derive(Debug, Default)]
struct Unauthenticated {
    by_source: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place among its source's unauthenticated ones; freed when it authenticates
/// (dropped by the session) or ends.
#[derive(Debug)]
pub struct PreAuthSlot {
    table: Arc<Unauthenticated>,
    source: IpAddr,
}

impl Unauthenticated {
    fn admit(table: &Arc<Unauthenticated>, source: IpAddr, limit: usize) -> Option<PreAuthSlot> {
        let mut by_source = table.by_source.lock().unwrap_or_else(|p| p.into_inner());
        let count = by_source.entry(source).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(PreAuthSlot {
            table: Arc::clone(table),
            source,
        })
    }
}

impl Drop for PreAuthSlot {
    fn drop(&mut self) {
        let mut by_source = self
            .table
            .by_source
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = by_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                by_source.remove(&self.source);
            }
        }
    }
}

/// Accepts clients and serves each on its own task.
pub struct EdgeServer {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: Arc<EdgeContext>,
    permits: Arc<Semaphore>,
    unauthenticated: Arc<Unauthenticated>,
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
            unauthenticated: Arc::default(),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Tells a refused client `ERROR busy` (plain TCP only), best effort and never blocking: the
    /// listener must not wait on a refused client.
    fn refuse(&self, stream: &tokio::net::TcpStream) {
        if self.tls.is_none() {
            let _ = stream.try_write(format!("{}\n", EdgeReply::Busy.line()).as_bytes());
        }
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
            let limit = self.ctx.limits.max_unauthenticated_per_source;
            let Some(pre_auth) = Unauthenticated::admit(&self.unauthenticated, peer.ip(), limit)
            else {
                debug!(%peer, limit, "too many connections from this source waiting for their AUTH");
                self.refuse(&stream);
                continue;
            };
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                warn!(%peer, limit = self.ctx.limits.max_connections, "connection limit reached");
                self.refuse(&stream);
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
                    session::serve(io, ctx, deadline, pre_auth).await;
                    debug!("connection closed");
                }
                .instrument(span),
            );
        }
    }
}
