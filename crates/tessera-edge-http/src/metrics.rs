//! The HTTP edge's Prometheus series (served on `--metrics-listen`, see `tessera-telemetry`):
//!
//! * `tessera_edge_http_requests_total{outcome}`: every request the edge answered, by outcome:
//!   `allowed` (any answer below 400: admitted and proxied, verified, or a public route), `401`,
//!   `403`, `503` (Tessera unreachable), `other` (every other refusal or failure).
//! * `tessera_edge_http_request_duration_seconds`: arrival to response headers.
//! * `tessera_edge_http_tessera_call_duration_seconds{rpc}`: each call the gate makes to Tessera
//!   (`Introspect`, `CheckNamespace`), whatever its answer.

use std::time::Duration;

use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tessera_telemetry::metrics::{latency_histogram, Registry};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RpcLabels {
    rpc: &'static str,
}

/// The edge's series; a default value records into series no registry exports.
#[derive(Debug, Clone)]
pub struct EdgeMetrics {
    requests: Family<OutcomeLabels, Counter>,
    duration: Histogram,
    tessera: Family<RpcLabels, Histogram, fn() -> Histogram>,
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        EdgeMetrics {
            requests: Family::default(),
            duration: latency_histogram(),
            tessera: Family::new_with_constructor(latency_histogram),
        }
    }
}

/// The outcome label of an answer.
pub fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "401",
        403 => "403",
        503 => "503",
        code if code < 400 => "allowed",
        _ => "other",
    }
}

impl EdgeMetrics {
    /// Series registered in `registry`.
    pub fn register(registry: &mut Registry) -> EdgeMetrics {
        let metrics = EdgeMetrics::default();
        // prometheus-client appends `_total` to counters.
        registry.register(
            "tessera_edge_http_requests",
            "Requests answered by the HTTP edge, by outcome (allowed, 401, 403, 503, other)",
            metrics.requests.clone(),
        );
        registry.register(
            "tessera_edge_http_request_duration_seconds",
            "HTTP edge latency, arrival to response headers",
            metrics.duration.clone(),
        );
        registry.register(
            "tessera_edge_http_tessera_call_duration_seconds",
            "Latency of the edge's calls to Tessera, by RPC",
            metrics.tessera.clone(),
        );
        metrics
    }

    /// Records one answered request.
    pub fn request(&self, status: StatusCode, elapsed: Duration) {
        self.requests
            .get_or_create(&OutcomeLabels {
                outcome: outcome(status),
            })
            .inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Records one call to Tessera.
    pub fn tessera_call(&self, rpc: &'static str, elapsed: Duration) {
        self.tessera
            .get_or_create(&RpcLabels { rpc })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_the_outcomes_operators_alert_on() {
        assert_eq!(outcome(StatusCode::OK), "allowed");
        assert_eq!(outcome(StatusCode::FOUND), "allowed");
        assert_eq!(outcome(StatusCode::UNAUTHORIZED), "401");
        assert_eq!(outcome(StatusCode::FORBIDDEN), "403");
        assert_eq!(outcome(StatusCode::SERVICE_UNAVAILABLE), "503");
        assert_eq!(outcome(StatusCode::BAD_REQUEST), "other");
        assert_eq!(outcome(StatusCode::BAD_GATEWAY), "other");
    }
}
