//! What trace export costs on the hot path: cached Introspect throughput on a replica exporting
//! spans (OTLP/gRPC to a receiver in this process, parent-based sampling at 1 %, as production
//! would run) against replica A without export, in the same run, rounds interleaved so drift on
//! a shared machine hits both alike.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use opentelemetry_proto::tonic::collector::trace::v1::{
    trace_service_server::{TraceService, TraceServiceServer},
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tessera_server::settings::AuthSettings;
use tessera_telemetry::{LogFormat, LogSettings, ParentlessRule, SamplerSetting, TraceSettings};

use super::{list, median, per_second, ratio_row, Bench, Clients};
use crate::{
    cluster::{Postgres, Replica, ReplicaConfig, TESSERA_DB},
    load::closed_loop,
    report::rate,
};

/// The sampling ratio of the traced replica.
const SAMPLED: f64 = 0.01;

/// An OTLP receiver that only counts spans.
#[derive(Clone, Default)]
struct SpanCounter(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for SpanCounter {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Bench {
    /// Cached Introspect, traced replica vs A: the throughput ratio (goal ≥ 0.9×).
    pub(super) async fn tracing_overhead(&mut self, postgres: &Postgres) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let counter = SpanCounter::default();
        let receiver = tokio::spawn({
            let service = TraceServiceServer::new(counter.clone());
            async move {
                let _ = tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                    .await;
            }
        });
        let (dispatch, telemetry) = tessera_telemetry::build(
            LogSettings {
                filter: tracing_subscriber::EnvFilter::new("warn"),
                format: LogFormat::Text,
                ansi: false,
            },
            Some(&TraceSettings {
                endpoint,
                service_name: "tessera-bench-traced".into(),
                sampler: SamplerSetting::ParentBased(ParentlessRule::Ratio(SAMPLED)),
            }),
        )?;
        let traced = Replica::start_traced(
            postgres.url(TESSERA_DB, "bench-t"),
            ReplicaConfig {
                name: "bench-t".into(),
                auth: AuthSettings::default(),
                threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
                test_before_acquire: self.options.pool_ping,
            },
            dispatch,
        )
        .await?;
        let on_traced = Clients::connect(&traced, self.options.connections).await?;

        let (n, phase, warmup) = (
            self.options.concurrency,
            self.options.phase,
            self.options.warmup,
        );
        let warm = closed_loop(n, warmup, self.closed_introspect(&on_traced)).await;
        self.checked("warm-up traced Introspect", &warm)?;
        closed_loop(n, warmup, self.closed_introspect(&self.on_a)).await;
        let (mut plain, mut with_export) = (Vec::new(), Vec::new());
        for _ in 0..self.options.rounds {
            let untraced = closed_loop(n, phase, self.closed_introspect(&self.on_a)).await;
            self.checked("cached Introspect, no export", &untraced)?;
            let traced_run = closed_loop(n, phase, self.closed_introspect(&on_traced)).await;
            self.checked("cached Introspect, exporting", &traced_run)?;
            plain.push(untraced.throughput());
            with_export.push(traced_run.throughput());
        }
        traced.stop().await;
        telemetry.shutdown().await;
        receiver.abort();
        let ratios: Vec<f64> = with_export.iter().zip(&plain).map(|(t, p)| t / p).collect();
        self.rows.push(ratio_row(
            &format!(
                "cached Introspect with trace export (sampling {:.0} %) / without",
                SAMPLED * 100.0
            ),
            format!("no export {}", rate(median(&plain))),
            rate(median(&with_export)),
            median(&ratios),
            Some(0.9),
            None,
        ));
        self.details.push(format!(
            "trace export overhead per round (calls/s): without [{}]; with [{}]; spans received by the local OTLP receiver: {}",
            list(&plain, per_second),
            list(&with_export, per_second),
            counter.0.load(Ordering::Relaxed)
        ));
        Ok(())
    }
}
