//! The listener: connection limit, a cap per source address on connections that have not yet
//! authenticated (both through `tessera_process::admission`, shared with the other listeners),
//! optional TLS, one task per client.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tessera_process::admission::{AdmissionLimits, AdmittedConnection, ListenerAdmission};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tracing::{debug, info, Instrument};

use crate::reply::EdgeReply;
use crate::session::{self, EdgeContext};
use crate::BoxedIo;

/// Accepts clients and serves each on its own task.
pub struct EdgeServer {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: Arc<EdgeContext>,
    admission: ListenerAdmission,
}

impl EdgeServer {
    /// A server on a bound listener; `tls` makes every client speak TLS.
    pub fn new(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        ctx: Arc<EdgeContext>,
    ) -> Self {
        let admission = ListenerAdmission::new(AdmissionLimits {
            max_connections: ctx.limits.max_connections,
            max_pending_per_source: ctx.limits.max_unauthenticated_per_source,
        });
        Self {
            listener,
            tls: tls.map(tokio_rustls::TlsAcceptor::from),
            ctx,
            admission,
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
            let (stream, peer, admitted) = tokio::select! {
                () = &mut shutdown => {
                    info!("shutting down");
                    return;
                }
                accepted = self.admission.accept(&self.listener) => accepted,
            };
            let Ok(AdmittedConnection { slot, pending }) = admitted else {
                self.refuse(&stream);
                continue;
            };
            let ctx = self.ctx.clone();
            let tls = self.tls.clone();
            let span = tracing::info_span!("client", %peer);
            tokio::spawn(
                async move {
                    let _slot = slot;
                    let deadline = Instant::now() + ctx.limits.auth_timeout;
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
                    session::serve(io, ctx, deadline, pending).await;
                    debug!("connection closed");
                }
                .instrument(span),
            );
        }
    }
}
