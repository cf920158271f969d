//! The server's Prometheus metrics, on `prometheus-client` (see `tessera-telemetry`), served on
//! their own listener (`--metrics-listen`, off by default).
//!
//! What is measured and where:
//! * RPC latency per method and responses per method and final gRPC status: the RPC metrics layer
//!   of `tessera-telemetry`, mounted once around every service.
//! * Decision-cache hits, misses and revocation lag (commit on the revoking replica to the local
//!   drop of the entry): counted by the cache itself ([`crate::cache::CacheStats`]).
//! * Connections open, refused at accept and closed by the server (preface timeout, idle):
//!   counted by the listener ([`ConnectionStats`]).
//! * Cache size and trust, argon2 pool depth and refused logins, certificate expiry: read at
//!   scrape time ([`ServerGauges`]).
//!
//! Names exported (kept stable for the alert rules and dashboard in `deploy/observability/`):
//! `tessera_rpc_duration_seconds`, `tessera_rpc_responses_total`, `tessera_cache_hits_total`,
//! `tessera_cache_misses_total`, `tessera_cache_entries`, `tessera_cache_trusted`,
//! `tessera_argon2_running`, `tessera_argon2_queue_depth`, `tessera_argon2_capacity`,
//! `tessera_logins_rejected_total`, `tessera_tls_certificate_expiry_timestamp_seconds`,
//! `tessera_revocation_lag_seconds`, `tessera_connections_open`,
//! `tessera_connections_refused_total`, `tessera_connections_closed_total`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tessera_telemetry::grpc::RpcMetrics;
use tessera_telemetry::metrics::Registry;

use crate::connections::ConnectionStats;
use crate::service::Authority;

/// The registry of one server: RPC series (returned, for the layer) plus the authority's and the
/// listener's.
pub fn registry(authority: &Authority, connections: &ConnectionStats) -> (Registry, RpcMetrics) {
    let mut registry = Registry::default();
    let rpc = RpcMetrics::register(&mut registry);
    connections.register(&mut registry);
    let stats = authority.cache().stats().clone();
    // prometheus-client appends `_total` to counters.
    registry.register(
        "tessera_cache_hits",
        "Token lookups answered from the decision cache",
        stats.hits,
    );
    registry.register(
        "tessera_cache_misses",
        "Token lookups the decision cache could not answer (absent, expired or untrusted)",
        stats.misses,
    );
    registry.register(
        "tessera_revocation_lag_seconds",
        "From a revocation's commit to this replica dropping its cache entry",
        stats.revocation_lag,
    );
    registry.register_collector(Box::new(ServerGauges {
        authority: authority.clone(),
    }));
    (registry, rpc)
}

/// Values read from the authority at scrape time.
pub struct ServerGauges {
    authority: Authority,
}

impl std::fmt::Debug for ServerGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerGauges").finish_non_exhaustive()
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ServerGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let cache = self.authority.cache();
        gauge(
            &mut encoder,
            "tessera_cache_entries",
            "Decisions held in the cache",
            as_i64(cache.len()),
        )?;
        gauge(
            &mut encoder,
            "tessera_cache_trusted",
            "1 while the revocation feed is live and the cache is used, else 0",
            i64::from(cache.is_trusted()),
        )?;
        let pool = self.authority.hash_pool();
        gauge(
            &mut encoder,
            "tessera_argon2_running",
            "Password hashes running on the argon2 pool",
            as_i64(pool.running()),
        )?;
        gauge(
            &mut encoder,
            "tessera_argon2_queue_depth",
            "Password hashes waiting for an argon2 worker",
            as_i64(pool.queued()),
        )?;
        gauge(
            &mut encoder,
            "tessera_argon2_capacity",
            "Password hashes the pool admits at once (workers plus queue); past it logins are refused",
            as_i64(pool.capacity()),
        )?;
        let rejected = ConstCounter::new(pool.rejected());
        let mut family = encoder.encode_descriptor(
            "tessera_logins_rejected",
            "Login and Unlock attempts refused at once because the argon2 pool was full",
            None,
            MetricType::Counter,
        )?;
        rejected.encode(family.encode_family(&[("reason", "overloaded")])?)?;
        if let Some(not_after) = crate::tls::certificate_not_after() {
            gauge(
                &mut encoder,
                "tessera_tls_certificate_expiry_timestamp_seconds",
                "When the gRPC listener's certificate expires (Unix time)",
                not_after,
            )?;
        }
        Ok(())
    }
}
