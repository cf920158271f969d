use std::collections::VecDeque;

use http_body_util::BodyExt as _;
use hyper::body::Bytes;
use tower::{Layer as _, Service as _, ServiceExt as _};

use super::*;

/// A body replaying fixed frames: data, then maybe trailers.
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn trailers(code: &str) -> Frame<Bytes> {
    let mut map = http::HeaderMap::new();
    map.insert("grpc-status", code.parse().unwrap());
    Frame::trailers(map)
}

fn answer(
    header_status: Option<&'static str>,
    frames: Vec<Frame<Bytes>>,
) -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<Frames>,
    Error = std::convert::Infallible,
    Future = std::future::Ready<Result<http::Response<Frames>, std::convert::Infallible>>,
> + Clone {
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Some(frames)));
    tower::service_fn(move |_request: http::Request<()>| {
        let frames = frames.lock().unwrap().take().unwrap_or_default();
        let mut response = http::Response::new(Frames(frames.into()));
        if let Some(code) = header_status {
            response
                .headers_mut()
                .insert("grpc-status", code.parse().unwrap());
        }
        std::future::ready(Ok(response))
    })
}

fn rendered(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry).unwrap();
    out
}

async fn drive(
    metrics: &RpcMetrics,
    path: &str,
    header_status: Option<&'static str>,
    frames: Vec<Frame<Bytes>>,
) {
    let mut service =
        RpcMetricsLayer::new(Some(metrics.clone())).layer(answer(header_status, frames));
    let request = http::Request::builder().uri(path).body(()).unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    let _ = response.into_body().collect().await;
}

#[tokio::test]
async fn a_stream_failing_after_its_headers_counts_as_its_error() {
    let mut registry = Registry::default();
    let metrics = RpcMetrics::register(&mut registry);
    let data = || Frame::data(Bytes::from_static(b"\0\0\0\0\0"));
    // A server stream: headers (no status), two messages, then UNAVAILABLE in the trailers.
    drive(
        &metrics,
        "/p.S/Watch",
        None,
        vec![data(), data(), trailers("14")],
    )
    .await;
    // A unary success: status OK in the trailers.
    drive(&metrics, "/p.S/Get", None, vec![data(), trailers("0")]).await;
    // A unary error: trailers-only, status in the headers.
    drive(&metrics, "/p.S/Get", Some("16"), vec![]).await;
    let text = rendered(&registry);
    assert!(
        text.contains(
            "tessera_rpc_responses_total{method=\"/p.S/Watch\",code=\"Unavailable\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("method=\"/p.S/Watch\",code=\"Ok\""),
        "{text}"
    );
    assert!(
        text.contains("tessera_rpc_responses_total{method=\"/p.S/Get\",code=\"Ok\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "tessera_rpc_responses_total{method=\"/p.S/Get\",code=\"Unauthenticated\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("tessera_rpc_duration_seconds_count{method=\"/p.S/Get\"} 2\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_dropped_before_its_trailers_counts_as_cancelled() {
    let mut registry = Registry::default();
    let metrics = RpcMetrics::register(&mut registry);
    let mut service = RpcMetricsLayer::new(Some(metrics.clone())).layer(answer(
        None,
        vec![Frame::data(Bytes::from_static(b"x")), trailers("0")],
    ));
    let request = http::Request::builder().uri("/p.S/Watch").body(()).unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    drop(response);
    let text = rendered(&registry);
    assert!(
        text.contains("tessera_rpc_responses_total{method=\"/p.S/Watch\",code=\"Cancelled\"} 1\n"),
        "{text}"
    );
}

#[test]
fn invented_paths_cannot_grow_the_registry() {
    let mut registry = Registry::default();
    let metrics = RpcMetrics::register(&mut registry);
    for i in 0..(MAX_METHODS + 10) {
        metrics.method(&format!("/x/{i}"));
    }
    assert_eq!(metrics.method("/x/new"), "other");
    assert_eq!(metrics.method("/x/3"), "/x/3");
    assert_eq!(metrics.method(&"/y".repeat(200)), "other");
}
