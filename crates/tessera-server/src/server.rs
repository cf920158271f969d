//! Wiring: the gRPC server with AuthService, health and reflection, the health prober that follows
//! PostgreSQL, and the revocation feed.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tessera_core::clock::Clock;
use tessera_proto::v1::{
    admin_service_server::AdminServiceServer, auth_service_server::AuthServiceServer,
};
use tessera_store::PgPool;
use tessera_telemetry::{
    grpc::{RpcMetricsLayer, ServerSpanLayer},
    metrics::{MetricsEndpoint, MetricsTask},
};
use tokio::net::TcpListener;
use tonic_health::ServingStatus;
use tracing::{info, warn};

use crate::{
    connections::{self, ConnectionStats, OpenStreamsLayer},
    error::ApiError,
    grpc::{extract_credential, AdminApi, AuthApi},
    service::{Authority, FeedSource},
    settings::{AuthSettings, ServeSettings},
    tls::{self, ReloadingCert},
};

/// The fully qualified name health reports for the auth service.
pub const AUTH_SERVICE_NAME: &str = "tessera.v1.AuthService";

/// How often a connection's peer is pinged (HTTP/2 PING) while it holds the connection.
const HTTP2_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a ping may go unanswered before the connection is closed.
const HTTP2_KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A bound, not yet serving, Tessera server.
pub struct Server {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    authority: Authority,
    serve: ServeSettings,
    metrics: Option<MetricsEndpoint>,
}

impl Server {
    /// Binds `serve.listen` (port 0 picks a free port) and builds the authority over `pool`.
    pub async fn bind(
        pool: PgPool,
        clock: Arc<dyn Clock>,
        auth: AuthSettings,
        serve: ServeSettings,
    ) -> anyhow::Result<Server> {
        Server::bind_with_direct(pool.clone(), pool, clock, auth, serve).await
    }

    /// As [`Server::bind`], with the LISTENs (revocation feed, JWT key changes) on `direct`: a
    /// pool of direct PostgreSQL sessions, when `pool` goes through a transaction pooler such as
    /// PgBouncer, where LISTEN does not work.
    pub async fn bind_with_direct(
        pool: PgPool,
        direct: PgPool,
        clock: Arc<dyn Clock>,
        auth: AuthSettings,
        serve: ServeSettings,
    ) -> anyhow::Result<Server> {
        // Certificates first: a bad file should stop start-up before anything listens.
        let tls = match &serve.tls {
            Some(files) => {
                let cert = ReloadingCert::load(files.clone())?;
                let config = cert.server_config(&[b"h2"])?;
                cert.spawn_watcher()?;
                Some(config)
            }
            None => None,
        };
        let listener = TcpListener::bind(serve.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", serve.listen))?;
        if tls.is_none() && !serve.listen.ip().is_loopback() {
            warn!(addr = %serve.listen, "serving gRPC in plaintext on a non-loopback address; tokens cross the network readable (give --tls-cert and --tls-key)");
        }
        let metrics = match serve.metrics_listen {
            Some(addr) => Some(MetricsEndpoint::bind(addr).await?),
            None => None,
        };
        let name = format!(
            "replica {} pid {}",
            listener.local_addr()?,
            std::process::id()
        );
        let feed = FeedSource {
            pool: direct.clone(),
            name,
        };
        let authority = Authority::new(pool, clock, auth, Some(feed))
            .map_err(|e: ApiError| anyhow::anyhow!(e))?
            .listening_on(direct);
        authority.start_signing_keys().await;
        Ok(Server {
            listener,
            tls,
            authority,
            serve,
            metrics,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The metrics listener's address, when `--metrics-listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|m| m.local_addr().ok())
    }

    /// The authority behind the server (tests and `dev` bootstrap use it).
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Serves until `shutdown` resolves, then drains in-flight calls.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let drain = self.authority.drain().clone();
        let authority = self.authority.clone();
        // The first check runs before the listener answers, so a probe never meets the auth
        // service unregistered ("service not registered") in the moment after start-up.
        let up = database_up(self.authority.pool(), self.serve.health_interval).await;
        set_health(&reporter, serving_status(up)).await;
        tokio::spawn(follow_database(
            self.authority.pool().clone(),
            reporter.clone(),
            self.serve.health_interval,
            drain.clone(),
            up,
        ));
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let auth = AuthServiceServer::with_interceptor(
            AuthApi::new(self.authority.clone()),
            extract_credential,
        );
        let admin = AdminServiceServer::with_interceptor(
            AdminApi::new(self.authority.clone()),
            extract_credential,
        );
        info!(addr = %self.listener.local_addr()?, tls = self.tls.is_some(), "tessera serving gRPC");
        // Draining, in order: health says NOT_SERVING (load balancers and probes stop sending
        // work here), WatchRevocations streams end with UNAVAILABLE (watchers reconnect
        // elsewhere), then the listener closes and every connection gets a GOAWAY, so new calls
        // go to another replica while in-flight ones finish. What is still open after the grace
        // period (a client that ignores GOAWAY, a health Watch) is cut.
        let grace = self.serve.shutdown_grace;
        let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            info!(grace = ?grace, "draining: health NOT_SERVING, streams ending, no new connections");
            set_health(&reporter, ServingStatus::NotServing).await;
            drain.start();
            let _ = fired_tx.send(());
        };
        let connection_stats = ConnectionStats::default();
        let (rpc_metrics, _metrics_task) =
            serve_metrics(self.metrics, &self.authority, &connection_stats);
        let router = tonic::transport::Server::builder()
            .layer(rpc_metrics)
            // One span per call, continuing the caller's `traceparent`.
            .layer(ServerSpanLayer)
            .layer(tls::ClientCertificateLayer)
            // Calls open per connection, for the idle timeout (see `connections`).
            .layer(OpenStreamsLayer)
            .timeout(self.serve.request_timeout)
            // Pings find peers that vanished while holding a stream open (an idle connection is
            // closed by the idle timeout instead).
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            // A cap per connection, so one client cannot hold open thousands of streams; the
            // per-caller WatchRevocations limit (AuthSettings) covers many connections.
            .max_concurrent_streams(self.serve.max_concurrent_streams)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(auth)
            .add_service(admin);
        // Nagle off on every accepted socket (in `connections`): with it on, a grpc-go client
        // waits out its delayed ACK (~40 ms) on every unary call.
        let incoming = connections::incoming(
            self.listener,
            self.tls,
            self.serve.connections,
            connection_stats,
        );
        let serving = router.serve_with_incoming_shutdown(incoming, signal);
        let grace_over = async move {
            match fired_rx.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            served = serving => {
                served?;
                info!("drained; every call finished");
            }
            () = grace_over => warn!(grace = ?grace, "calls still open after the shutdown grace; closing them"),
        }
        // Nothing is served any more: no Revoke needs to wait for this replica's lease.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), authority.release_lease())
            .await;
        Ok(())
    }
}

/// The RPC metrics layer, and the `/metrics` listener serving every series when one is bound.
fn serve_metrics(
    endpoint: Option<MetricsEndpoint>,
    authority: &Authority,
    connections: &ConnectionStats,
) -> (RpcMetricsLayer, Option<MetricsTask>) {
    match endpoint {
        Some(endpoint) => {
            let (registry, rpc) = crate::observability::registry(authority, connections);
            (
                RpcMetricsLayer::new(Some(rpc)),
                Some(endpoint.spawn(Arc::new(registry))),
            )
        }
        None => (RpcMetricsLayer::new(None), None),
    }
}

/// Reflection over Tessera's services, health, and the `google.rpc` error details
/// (`ErrorInfo`, …), so grpcurl decodes a failure's details and shows its reason
/// (`INVALID_CREDENTIALS`) instead of a base64 blob.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tessera_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

/// Keeps health in step with PostgreSQL: NOT_SERVING while it is unreachable, SERVING once it is
/// back, without restarting anything. `up` is what the first check (before serving) found.
async fn follow_database(
    pool: PgPool,
    reporter: tonic_health::server::HealthReporter,
    interval: std::time::Duration,
    drain: crate::drain::Drain,
    up: bool,
) {
    let mut serving = up;
    if up {
        info!("postgresql reachable; serving");
    } else {
        warn!("postgresql unreachable; health NOT_SERVING, requests fail closed");
    }
    loop {
        tokio::time::sleep(interval).await;
        if drain.is_draining() {
            // Draining owns health from now on: NOT_SERVING until the process ends.
            set_health(&reporter, ServingStatus::NotServing).await;
            return;
        }
        let up = database_up(&pool, interval).await;
        if serving != up {
            set_health(&reporter, serving_status(up)).await;
            if up {
                info!("postgresql reachable; serving");
            } else {
                warn!("postgresql unreachable; health NOT_SERVING, requests fail closed");
            }
            serving = up;
        }
    }
}

/// Whether PostgreSQL answers a ping within the health interval (at least a second).
async fn database_up(pool: &PgPool, interval: std::time::Duration) -> bool {
    tokio::time::timeout(
        interval.max(std::time::Duration::from_secs(1)),
        tessera_store::ping(pool),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

fn serving_status(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Sets the overall status and the auth service's together.
async fn set_health(reporter: &tonic_health::server::HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(AUTH_SERVICE_NAME, status).await;
}

/// Starts what runs beside the gRPC server: the static tokens file, when there is one (loaded
/// now, reloaded on SIGHUP), and the sweeper.
pub async fn start_background(
    authority: &Authority,
    sweeper: crate::sweeper::SweeperSettings,
    tokens_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    if let Some(path) = tokens_file {
        crate::static_tokens::install(authority, path).await?;
    }
    crate::sweeper::spawn(authority.clone(), sweeper);
    Ok(())
}
