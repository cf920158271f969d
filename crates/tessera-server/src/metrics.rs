//! Prometheus metrics, served in the text exposition format on a listener of their own
//! (`--metrics-listen`, off by default) so scrapes never share the API's port or its limits.
//!
//! What is measured and where:
//! * RPC latency per method and responses per method and gRPC code: a tower layer around every
//!   service ([`RpcMetricsLayer`]); latency runs from the request's arrival to its response headers
//!   (for a unary call, the whole call).
//! * Decision-cache hits, misses and revocation lag (commit on the revoking replica to the local
//!   drop of the entry): counted by the cache itself ([`CacheStats`]).
//! * argon2 pool depth and refused logins: read from the hashing pool at scrape time.
//!
//! The primitives are plain atomics: recording costs a few relaxed increments, no lock on the
//! request path except a read lock to find a method's series.

use std::{
    collections::HashMap,
    fmt::Write as _,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use http_body_util::Full;
use hyper::{body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::Semaphore, task::JoinHandle};
use tracing::{debug, info};

use crate::service::Authority;

/// Upper bounds (seconds) of the latency buckets: 50 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// Distinct RPC paths tracked; further (unknown) paths share the series `method="other"`, so a
/// client inventing paths cannot grow the registry.
const MAX_METHODS: usize = 64;
/// Scrape connections served at once.
const MAX_SCRAPES: usize = 8;
/// Longest a scrape connection may stay open.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A Prometheus histogram with fixed buckets ([`LATENCY_BUCKETS`]).
#[derive(Debug)]
pub struct Histogram {
    /// Non-cumulative counts per bucket; the last one is `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..=LATENCY_BUCKETS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        let index = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// The decision cache's counters (owned by [`crate::cache::DecisionCache`]).
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: Counter,
    /// Lookups the cache could not answer (absent, expired, or cache untrusted).
    pub misses: Counter,
    /// From a revocation's commit (the revoking replica's clock) to this replica dropping it.
    pub revocation_lag: Histogram,
}

/// Per-method series.
#[derive(Debug, Default)]
struct MethodStats {
    latency: Histogram,
    /// Responses per gRPC code 0..=16.
    codes: [Counter; 17],
}

/// RPC series of one server, shared by the layer and the endpoint.
#[derive(Debug, Default)]
pub struct RpcStats {
    methods: RwLock<HashMap<String, Arc<MethodStats>>>,
}

impl RpcStats {
    fn method(&self, path: &str) -> Arc<MethodStats> {
        {
            let methods = self.methods.read().unwrap_or_else(|p| p.into_inner());
            if let Some(stats) = methods.get(path) {
                return Arc::clone(stats);
            }
        }
        let mut methods = self.methods.write().unwrap_or_else(|p| p.into_inner());
        let key = if methods.len() >= MAX_METHODS && !methods.contains_key(path) {
            "other"
        } else {
            path
        };
        Arc::clone(methods.entry(key.to_owned()).or_default())
    }

    /// Calls recorded for `path` (e.g. `/grpc.health.v1.Health/Check`), for tests and reports.
    pub fn calls(&self, path: &str) -> u64 {
        self.methods
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .map_or(0, |m| m.latency.count())
    }

    fn render(&self, out: &mut String) {
        let methods = self.methods.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = methods.keys().collect();
        names.sort();
        out.push_str(
            "# HELP tessera_rpc_duration_seconds gRPC call latency, arrival to response headers.\n\
             # TYPE tessera_rpc_duration_seconds histogram\n",
        );
        for name in &names {
            let labels = format!("method=\"{}\"", escape(name));
            methods[*name]
                .latency
                .render(out, "tessera_rpc_duration_seconds", &labels);
        }
        out.push_str(
            "# HELP tessera_rpc_responses_total gRPC responses by method and status code.\n\
             # TYPE tessera_rpc_responses_total counter\n",
        );
        for name in &names {
            for (code, counter) in methods[*name].codes.iter().enumerate() {
                let value = counter.get();
                if value > 0 {
                    let code = tonic::Code::from_i32(code as i32);
                    let _ = writeln!(
                        out,
                        "tessera_rpc_responses_total{{method=\"{}\",code=\"{code:?}\"}} {value}",
                        escape(name)
                    );
                }
            }
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Tower layer recording every call's latency and status; a no-op when built without stats.
#[derive(Clone, Default)]
pub struct RpcMetricsLayer {
    stats: Option<Arc<RpcStats>>,
}

impl RpcMetricsLayer {
    /// Records into `stats`, or nowhere.
    pub fn new(stats: Option<Arc<RpcStats>>) -> RpcMetricsLayer {
        RpcMetricsLayer { stats }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// The service [`RpcMetricsLayer`] wraps around the router.
#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    stats: Option<Arc<RpcStats>>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, RB> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(stats) = &self.stats else {
            return Box::pin(self.inner.call(request));
        };
        let method = stats.method(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            method.latency.observe(started.elapsed());
            if let Ok(response) = &response {
                // Errors come trailers-only, with grpc-status in the headers; a success carries it
                // in the trailers, so no header means OK.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if let Some(counter) = method.codes.get(code) {
                    counter.inc();
                }
            }
            response
        })
    }
}

/// The metrics listener, bound but not yet serving.
pub struct MetricsEndpoint {
    listener: TcpListener,
    stats: Arc<RpcStats>,
}

impl MetricsEndpoint {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<MetricsEndpoint> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        Ok(MetricsEndpoint {
            listener,
            stats: Arc::default(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The RPC series this endpoint exposes (feed them with [`RpcMetricsLayer`]).
    pub fn stats(&self) -> Arc<RpcStats> {
        Arc::clone(&self.stats)
    }

    /// Serves `GET /metrics` until the returned guard is dropped.
    pub fn spawn(self, authority: Authority) -> MetricsTask {
        if let Ok(addr) = self.listener.local_addr() {
            info!(%addr, "serving prometheus metrics on /metrics");
        }
        MetricsTask(tokio::spawn(serve(self.listener, self.stats, authority)))
    }
}

/// Stops the metrics listener when dropped.
pub struct MetricsTask(JoinHandle<()>);

impl Drop for MetricsTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(listener: TcpListener, stats: Arc<RpcStats>, authority: Authority) {
    let slots = Arc::new(Semaphore::new(MAX_SCRAPES));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                debug!(error = %err, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "too many metrics scrapes at once; connection dropped");
            continue;
        };
        let (stats, authority) = (Arc::clone(&stats), authority.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let response = respond(&request, &stats, &authority);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(SCRAPE_TIMEOUT, connection).await {
                Ok(Ok(())) | Err(_) => {}
                Ok(Err(err)) => debug!(%peer, error = %err, "metrics connection failed"),
            }
        });
    }
}

fn respond<B>(
    request: &http::Request<B>,
    stats: &RpcStats,
    authority: &Authority,
) -> http::Response<Full<Bytes>> {
    let (status, content_type, body) =
        if request.method() == http::Method::GET && request.uri().path() == "/metrics" {
            (
                http::StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                render(stats, authority),
            )
        } else {
            (
                http::StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found; metrics are at GET /metrics\n".to_owned(),
            )
        };
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// The exposition text for one server.
pub fn render(stats: &RpcStats, authority: &Authority) -> String {
    let mut out = String::with_capacity(8 * 1024);
    stats.render(&mut out);

    let cache = authority.cache();
    let cache_stats = cache.stats();
    let mut scalar = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    scalar(
        "tessera_cache_hits_total",
        "counter",
        "Token lookups answered from the decision cache.",
        cache_stats.hits.get(),
    );
    scalar(
        "tessera_cache_misses_total",
        "counter",
        "Token lookups the decision cache could not answer (absent, expired or untrusted).",
        cache_stats.misses.get(),
    );
    scalar(
        "tessera_cache_entries",
        "gauge",
        "Decisions held in the cache.",
        cache.len() as u64,
    );
    scalar(
        "tessera_cache_trusted",
        "gauge",
        "1 while the revocation feed is live and the cache is used, else 0.",
        u64::from(cache.is_trusted()),
    );
    let pool = authority.hash_pool();
    scalar(
        "tessera_argon2_running",
        "gauge",
        "Password hashes running on the argon2 pool.",
        pool.running() as u64,
    );
    scalar(
        "tessera_argon2_queue_depth",
        "gauge",
        "Password hashes waiting for an argon2 worker.",
        pool.queued() as u64,
    );
    scalar(
        "tessera_argon2_capacity",
        "gauge",
        "Password hashes the pool admits at once (workers plus queue); past it logins are refused.",
        pool.capacity() as u64,
    );
    let _ = writeln!(
        out,
        "# HELP tessera_logins_rejected_total Login and Unlock attempts refused at once because the argon2 pool was full.\n\
         # TYPE tessera_logins_rejected_total counter\n\
         tessera_logins_rejected_total{{reason=\"overloaded\"}} {}",
        pool.rejected()
    );
    if let Some(not_after) = crate::tls::certificate_not_after() {
        let _ = writeln!(
            out,
            "# HELP tessera_tls_certificate_expiry_timestamp_seconds When the gRPC listener's certificate expires (Unix time).\n\
             # TYPE tessera_tls_certificate_expiry_timestamp_seconds gauge\n\
             tessera_tls_certificate_expiry_timestamp_seconds {not_after}"
        );
    }
    out.push_str(
        "# HELP tessera_revocation_lag_seconds From a revocation's commit to this replica dropping its cache entry.\n\
         # TYPE tessera_revocation_lag_seconds histogram\n",
    );
    cache_stats
        .revocation_lag
        .render(&mut out, "tessera_revocation_lag_seconds", "");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(80));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram.render(&mut out, "x", "m=\"a\"");
        assert!(out.contains("x_bucket{m=\"a\",le=\"0.0001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{m=\"a\"} 3\n"), "{out}");
        let mut bare = String::new();
        histogram.render(&mut bare, "y", "");
        assert!(bare.contains("y_bucket{le=\"+Inf\"} 3\n"), "{bare}");
        assert!(bare.contains("y_count 3\n"), "{bare}");
    }

    #[test]
    fn unknown_paths_cannot_grow_the_registry() {
        let stats = RpcStats::default();
        for i in 0..(MAX_METHODS + 10) {
            stats
                .method(&format!("/x/{i}"))
                .latency
                .observe(Duration::ZERO);
        }
        assert_eq!(
            stats.methods.read().unwrap().len(),
            MAX_METHODS + 1,
            "capped plus \"other\""
        );
        assert_eq!(stats.calls("other"), 10);
    }
}
