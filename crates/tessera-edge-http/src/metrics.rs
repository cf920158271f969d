//! The HTTP edge's Prometheus series (served on `--metrics-listen`, see `tessera-telemetry`):
//!
//! * `tessera_edge_http_requests_total{outcome}`: every request the edge answered, by outcome:
//!   `allowed` (any answer below 400: admitted and proxied, verified, or a public route), `401`,
//!   `403`, `503` (Tessera unreachable), `other` (every other refusal or failure).
//! * `tessera_edge_http_request_duration_seconds`: arrival to response headers.
//! * `tessera_edge_http_tessera_call_duration_seconds{rpc}`: each call the gate makes to Tessera
//!   (`Introspect`, `CheckNamespace`), whatever its answer.
//! * `tessera_edge_http_decision_cache_lookups_total{result}`: each look into the decision cache
//!   (see [`crate::decision_cache`]): `hit` (answered without Tessera), `miss`, or `bypass` (the
//!   cache is not trusted: the revocation feed is down or lost its place).
//! * `tessera_edge_http_decision_cache_entries`: answers held.
//! * `tessera_edge_http_revocation_feed_connected`: 1 while the revocation feed is followed (and
//!   the cache trusted), 0 otherwise.
//! * `tessera_edge_http_oauth_requests_total{endpoint,outcome}`: each answer of the OAuth 2.0
//!   endpoints (see [`crate::oauth`]): `endpoint` is `introspect`, `revoke`, `metadata` or
//!   `jwks`; `outcome` is `active` / `inactive` (introspection), `ok`, `invalid_request`,
//!   `invalid_client` or `unavailable` (503: Tessera could not decide).

use std::time::Duration;

use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tessera_telemetry::metrics::{latency_histogram, Registry};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpOutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RpcLabels {
    rpc: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OauthLabels {
    endpoint: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LookupLabels {
    result: &'static str,
}

/// How a look into the decision cache went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLookup {
    /// Answered from the cache.
    Hit,
    /// Not held (or stale): Tessera is asked.
    Miss,
    /// The cache is not trusted right now: Tessera is asked.
    Bypass,
}

/// The edge's series; a default value records into series no registry exports.
#[derive(Debug, Clone)]
pub struct EdgeMetrics {
    requests: Family<HttpOutcomeLabels, Counter>,
    checks: Family<HttpOutcomeLabels, Counter>,
    duration: Histogram,
    tessera: Family<RpcLabels, Histogram, fn() -> Histogram>,
    lookups: Family<LookupLabels, Counter>,
    entries: Gauge,
    feed: Gauge,
    oauth: Family<OauthLabels, Counter>,
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        EdgeMetrics {
            requests: Family::default(),
            checks: Family::default(),
            duration: latency_histogram(),
            tessera: Family::new_with_constructor(latency_histogram),
            lookups: Family::default(),
            entries: Gauge::default(),
            feed: Gauge::default(),
            oauth: Family::default(),
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
            "tessera_edge_http_envoy_checks",
            "Envoy ext_authz Check calls (gRPC mode), by outcome (allowed, 401, 403, 503 when \
             undecided, caller_refused, other)",
            metrics.checks.clone(),
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
        registry.register(
            "tessera_edge_http_decision_cache_lookups",
            "Looks into the decision cache, by result (hit, miss, bypass)",
            metrics.lookups.clone(),
        );
        registry.register(
            "tessera_edge_http_decision_cache_entries",
            "Introspect answers held in the decision cache",
            metrics.entries.clone(),
        );
        registry.register(
            "tessera_edge_http_revocation_feed_connected",
            "1 while the revocation feed is followed and the decision cache trusted",
            metrics.feed.clone(),
        );
        registry.register(
            "tessera_edge_http_oauth_requests",
            "Answers of the OAuth 2.0 endpoints, by endpoint and outcome",
            metrics.oauth.clone(),
        );
        metrics
    }

    /// Records one answer of an OAuth 2.0 endpoint.
    pub fn oauth_request(&self, endpoint: &'static str, outcome: &'static str) {
        self.oauth
            .get_or_create(&OauthLabels { endpoint, outcome })
            .inc();
    }

    /// Records one look into the decision cache.
    pub fn cache_lookup(&self, lookup: CacheLookup) {
        let result = match lookup {
            CacheLookup::Hit => "hit",
            CacheLookup::Miss => "miss",
            CacheLookup::Bypass => "bypass",
        };
        self.lookups.get_or_create(&LookupLabels { result }).inc();
    }

    /// Records the number of answers the decision cache holds.
    pub fn cache_entries(&self, entries: usize) {
        self.entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// Records whether the revocation feed is followed.
    pub fn feed_connected(&self, connected: bool) {
        self.feed.set(i64::from(connected));
    }

    /// Records one answered request.
    pub fn request(&self, status: StatusCode, elapsed: Duration) {
        self.requests
            .get_or_create(&HttpOutcomeLabels {
                outcome: outcome(status),
            })
            .inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Records one Envoy Check by its outcome (see [`outcome`]; `caller_refused` when Envoy's own
    /// token was refused).
    pub fn envoy_check(&self, outcome: &'static str) {
        self.checks
            .get_or_create(&HttpOutcomeLabels { outcome })
            .inc();
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
