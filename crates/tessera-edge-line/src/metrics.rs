//! The line edge's Prometheus series (served on `--metrics-listen`, see `tessera-telemetry`):
//!
//! * `tessera_edge_line_connections_total{outcome}`: connections by how their `AUTH` line ended:
//!   `authenticated` or `refused` (bad, missing or late token; Tessera unreachable).
//! * `tessera_edge_line_connections_open`: connections open now.
//! * `tessera_edge_line_commands_total{outcome}`: commands after `AUTH`, by outcome: `forwarded`,
//!   `refused` (by the grammar or rules, or too long), `unauthenticated` (the token died), `denied`
//!   (outside the token's namespace), `unavailable` (Tessera unreachable), `invalid`.
//! * `tessera_edge_line_tessera_call_duration_seconds`: each check the edge asks Tessera for.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tessera_telemetry::metrics::{latency_histogram, Registry};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LineOutcomeLabels {
    outcome: &'static str,
}

/// The edge's series; a default value records into series no registry exports.
#[derive(Debug, Clone)]
pub struct LineMetrics {
    connections: Family<LineOutcomeLabels, Counter>,
    open: Gauge,
    commands: Family<LineOutcomeLabels, Counter>,
    tessera: Histogram,
}

impl Default for LineMetrics {
    fn default() -> Self {
        LineMetrics {
            connections: Family::default(),
            open: Gauge::default(),
            commands: Family::default(),
            tessera: latency_histogram(),
        }
    }
}

/// Decrements the open-connections gauge when the connection ends.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl LineMetrics {
    /// Series registered in `registry`.
    pub fn register(registry: &mut Registry) -> LineMetrics {
        let metrics = LineMetrics::default();
        // prometheus-client appends `_total` to counters.
        registry.register(
            "tessera_edge_line_connections",
            "Line edge connections by how their AUTH line ended (authenticated, refused)",
            metrics.connections.clone(),
        );
        registry.register(
            "tessera_edge_line_connections_open",
            "Line edge connections open now",
            metrics.open.clone(),
        );
        registry.register(
            "tessera_edge_line_commands",
            "Line edge commands by outcome (forwarded, refused, unauthenticated, denied, unavailable, invalid)",
            metrics.commands.clone(),
        );
        registry.register(
            "tessera_edge_line_tessera_call_duration_seconds",
            "Latency of the line edge's calls to Tessera",
            metrics.tessera.clone(),
        );
        metrics
    }

    /// Counts a connection open until the guard drops.
    pub fn opened(&self) -> OpenConnection {
        self.open.inc();
        OpenConnection(self.open.clone())
    }

    /// Records how a connection's `AUTH` line ended.
    pub fn connection(&self, outcome: &'static str) {
        self.connections
            .get_or_create(&LineOutcomeLabels { outcome })
            .inc();
    }

    /// Records one command's outcome.
    pub fn command(&self, outcome: &'static str) {
        self.commands
            .get_or_create(&LineOutcomeLabels { outcome })
            .inc();
    }

    /// Records one call to Tessera.
    pub fn tessera_call(&self, elapsed: Duration) {
        self.tessera.observe(elapsed.as_secs_f64());
    }
}
