//! Prometheus metrics on the Prometheus project's own Rust client (`prometheus-client`): each
//! binary builds one [`Registry`] (no process-global state, so a test or the bench can run several
//! servers in one process) and serves it in the text exposition format (0.0.4) on a listener of its
//! own (`--metrics-listen`, off by default), so scrapes never share the API's port or its limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{debug, info};

/// Upper bounds (seconds) of the latency buckets: 50 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// A latency histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

/// Scrape connections served at once.
const MAX_SCRAPES: usize = 8;
/// Longest a scrape connection may stay open.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// The registry rendered in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(8 * 1024);
    // Writing to a String cannot fail; a collector refusing would leave a partial page.
    if let Err(error) = prometheus_text::encode(&mut out, registry) {
        debug!(%error, "metrics encoding failed");
    }
    out
}

/// The metrics listener, bound but not yet serving.
#[derive(Debug)]
pub struct MetricsEndpoint {
    listener: TcpListener,
}

impl MetricsEndpoint {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<MetricsEndpoint> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        Ok(MetricsEndpoint { listener })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` from `registry` until the returned guard is dropped.
    pub fn spawn(self, registry: Arc<Registry>) -> MetricsTask {
        if let Ok(addr) = self.listener.local_addr() {
            info!(%addr, "serving prometheus metrics on /metrics");
        }
        MetricsTask(tokio::spawn(serve(self.listener, registry)))
    }
}

/// Serves `registry` on `listen` when it is set (`--metrics-listen`): the address actually bound
/// (for a ready file) and the guard that keeps it serving. Nothing when unset.
pub async fn serve_if_configured(
    listen: Option<SocketAddr>,
    registry: Registry,
) -> anyhow::Result<(Option<SocketAddr>, Option<MetricsTask>)> {
    let Some(addr) = listen else {
        return Ok((None, None));
    };
    let endpoint = MetricsEndpoint::bind(addr).await?;
    let bound = endpoint.local_addr()?;
    Ok((Some(bound), Some(endpoint.spawn(Arc::new(registry)))))
}

/// Stops the metrics listener when dropped.
#[derive(Debug)]
pub struct MetricsTask(JoinHandle<()>);

impl Drop for MetricsTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(listener: TcpListener, registry: Arc<Registry>) {
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
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let response = respond(&request, &registry);
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

fn respond<B>(request: &http::Request<B>, registry: &Registry) -> http::Response<Full<Bytes>> {
    let (status, content_type, body) =
        if request.method() == http::Method::GET && request.uri().path() == "/metrics" {
            (
                http::StatusCode::OK,
                prometheus_text::CONTENT_TYPE,
                render(registry),
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

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets_in_the_text_format() {
        let mut registry = Registry::default();
        let histogram = latency_histogram();
        registry.register("x_seconds", "test", histogram.clone());
        let counter: Counter = Counter::default();
        registry.register("y", "test", counter.clone());
        histogram.observe(0.00008);
        histogram.observe(0.003);
        histogram.observe(60.0);
        counter.inc();
        let out = render(&registry);
        assert!(out.contains("x_seconds_bucket{le=\"0.0001\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_count 3\n"), "{out}");
        assert!(out.contains("# TYPE y_total counter\ny_total 1\n"), "{out}");
    }
}
