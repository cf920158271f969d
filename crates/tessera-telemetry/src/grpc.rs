//! Tower layers for a tonic server, mounted once around every service:
//!
//! * [`ServerSpanLayer`]: one span per call, named `package.Service/Method`, continuing the trace
//!   the caller's `traceparent` metadata names; the adapters' own spans and everything below them
//!   (cache, argon2 queue, SQL) become its children.
//! * [`RpcMetricsLayer`]: latency per method (arrival to response headers) and responses per
//!   method and gRPC status. The status is read where gRPC puts it: in the headers of a
//!   trailers-only answer, else in the trailers at the end of the body — so a stream that fails
//!   after its headers were sent counts as the error it ended with, not as OK.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::{Body, Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

use crate::metrics::latency_histogram;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Longest method path kept as a span name or label; a longer one is not a real method.
const MAX_PATH: usize = 128;
/// Distinct methods with series of their own; further (unknown) paths share `method="other"`, so
/// a client inventing paths cannot grow the registry.
const MAX_METHODS: usize = 64;

/// `tonic::Code`'s name for a `grpc-status` value (`"Ok"`, `"Unauthenticated"`, …).
fn code_name(code: i32) -> String {
    format!("{:?}", tonic::Code::from_i32(code))
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Opens the server span of every call (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerSpanLayer;

impl<S> tower::Layer<S> for ServerSpanLayer {
    type Service = ServerSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerSpan { inner }
    }
}

/// The service [`ServerSpanLayer`] wraps around the router.
#[derive(Debug, Clone)]
pub struct ServerSpan<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for ServerSpan<S>
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
        let path = request.uri().path();
        let path = if path.len() > MAX_PATH {
            "/other"
        } else {
            path
        };
        let name = path.trim_start_matches('/');
        let (service, method) = name.split_once('/').unwrap_or((name, ""));
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        crate::propagation::continue_trace(&span, request.headers());
        let response = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let response = response.await;
                if let Ok(response) = &response {
                    // A trailers-only answer (every unary error) has its status in the headers.
                    if let Some(code) = grpc_status(response.headers()) {
                        let span = tracing::Span::current();
                        span.record("rpc.grpc.status_code", code);
                        if code != 0 {
                            span.record("otel.status_code", "ERROR");
                        }
                    }
                }
                response
            }
            .instrument(span),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResponseLabels {
    method: String,
    code: String,
}

/// The RPC series of one server.
#[derive(Debug, Clone)]
pub struct RpcMetrics {
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    responses: Family<ResponseLabels, Counter>,
    methods: Arc<RwLock<HashSet<String>>>,
}

impl RpcMetrics {
    /// Series registered in `registry`: `tessera_rpc_duration_seconds` (histogram) and
    /// `tessera_rpc_responses_total` (counter).
    pub fn register(registry: &mut Registry) -> RpcMetrics {
        let metrics = RpcMetrics {
            duration: Family::new_with_constructor(latency_histogram),
            responses: Family::default(),
            methods: Arc::default(),
        };
        registry.register(
            "tessera_rpc_duration_seconds",
            "gRPC call latency, arrival to response headers",
            metrics.duration.clone(),
        );
        // prometheus-client appends `_total`: exported as tessera_rpc_responses_total.
        registry.register(
            "tessera_rpc_responses",
            "gRPC responses by method and final status code",
            metrics.responses.clone(),
        );
        metrics
    }

    fn method(&self, path: &str) -> String {
        if path.len() <= MAX_PATH {
            if self
                .methods
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(path)
            {
                return path.to_owned();
            }
            let mut methods = self.methods.write().unwrap_or_else(|p| p.into_inner());
            if methods.len() < MAX_METHODS {
                methods.insert(path.to_owned());
                return path.to_owned();
            }
        }
        "other".to_owned()
    }

    fn count(&self, method: &str, code: i32) {
        self.responses
            .get_or_create(&ResponseLabels {
                method: method.to_owned(),
                code: code_name(code),
            })
            .inc();
    }
}

/// Records every call into [`RpcMetrics`]; a no-op when built without.
#[derive(Debug, Clone, Default)]
pub struct RpcMetricsLayer {
    metrics: Option<RpcMetrics>,
}

impl RpcMetricsLayer {
    /// Records into `metrics`, or nowhere.
    pub fn new(metrics: Option<RpcMetrics>) -> RpcMetricsLayer {
        RpcMetricsLayer { metrics }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`RpcMetricsLayer`] wraps around the router.
#[derive(Debug, Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: Option<RpcMetrics>,
}

impl<S, B, RB> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<StatusRecordingBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(metrics) = self.metrics.clone() else {
            let response = self.inner.call(request);
            return Box::pin(async move {
                let response = response.await?;
                Ok(response.map(|body| StatusRecordingBody {
                    body,
                    pending: None,
                }))
            });
        };
        let method = metrics.method(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            metrics
                .duration
                .get_or_create(&MethodLabels {
                    method: method.clone(),
                })
                .observe(started.elapsed().as_secs_f64());
            let response = response?;
            if let Some(code) = grpc_status(response.headers()) {
                // Trailers-only: the status is final, whatever the body does.
                metrics.count(&method, code);
                return Ok(response.map(|body| StatusRecordingBody {
                    body,
                    pending: None,
                }));
            }
            Ok(response.map(|body| StatusRecordingBody {
                body,
                pending: Some(PendingStatus { metrics, method }),
            }))
        })
    }
}

/// A response whose status is still to come, in the trailers.
#[derive(Debug)]
struct PendingStatus {
    metrics: RpcMetrics,
    method: String,
}

/// A response body that counts the call's final status when its trailers pass by; a body that ends
/// or is dropped without trailers counts as `Unknown` / `Cancelled`.
#[derive(Debug)]
pub struct StatusRecordingBody<B> {
    body: B,
    pending: Option<PendingStatus>,
}

impl<B> StatusRecordingBody<B> {
    fn settle(&mut self, code: i32) {
        if let Some(pending) = self.pending.take() {
            pending.metrics.count(&pending.method, code);
        }
    }
}

impl<B> Drop for StatusRecordingBody<B> {
    fn drop(&mut self) {
        // The client went away (or the stream was reset) before the status was sent.
        self.settle(tonic::Code::Cancelled as i32);
    }
}

impl<B: Body + Unpin> Body for StatusRecordingBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = grpc_status(trailers).unwrap_or(tonic::Code::Unknown as i32);
                    self.settle(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.settle(tonic::Code::Internal as i32),
            Poll::Ready(None) => self.settle(tonic::Code::Unknown as i32),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
