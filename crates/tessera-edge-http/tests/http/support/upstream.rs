//! A real upstream web service on a loopback port, run in the test's own runtime:
//!
//! * `GET /ws` — a WebSocket that first sends what it received (query and headers) as JSON, then
//!   echoes every text message;
//! * `GET /private` — an HTML page greeting `X-Tessera-Username`;
//! * `POST /upload` — counts a streamed body, reporting its first chunk before it has the rest;
//! * `GET /slow` — streams `first`, waits for the test's go-ahead, then streams `second`;
//! * anything else — echoes method, path, query and headers (name → all values) as JSON.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use http::HeaderMap;
use tokio::sync::Notify;

/// Signals between the streaming endpoints and the test.
#[derive(Default)]
pub struct Probes {
    /// `/upload` received its first chunk.
    pub upload_started: Notify,
    /// The test lets `/slow` send its second chunk.
    pub release_slow: Notify,
}

/// A running upstream.
pub struct Upstream {
    /// Its address.
    pub addr: SocketAddr,
    /// Signals for the streaming tests.
    pub probes: Arc<Probes>,
}

impl Upstream {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn headers_json(headers: &HeaderMap) -> serde_json::Value {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        map.entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    serde_json::to_value(map).expect("json")
}

async fn echo(request: Request) -> Response {
    axum::Json(serde_json::json!({
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "query": request.uri().query(),
        "headers": headers_json(request.headers()),
    }))
    .into_response()
}

async fn private(headers: HeaderMap) -> Response {
    let user = headers
        .get("x-tessera-username")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("nobody");
    Html(format!(
        "<!doctype html><html><head><title>Private</title></head>\
         <body><h1 id=\"greeting\">Hello, {user}</h1></body></html>"
    ))
    .into_response()
}

async fn upload(State(probes): State<Arc<Probes>>, request: Request) -> Response {
    let mut stream = request.into_body().into_data_stream();
    let mut total = 0usize;
    let mut first = true;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return (http::StatusCode::BAD_REQUEST, "broken body").into_response();
        };
        total += chunk.len();
        if first {
            first = false;
            probes.upload_started.notify_one();
        }
    }
    axum::Json(serde_json::json!({ "bytes": total })).into_response()
}

async fn slow(State(probes): State<Arc<Probes>>) -> Response {
    let stream = futures::stream::unfold(0u8, move |step| {
        let probes = probes.clone();
        async move {
            match step {
                0 => Some((Ok::<_, Infallible>(Bytes::from_static(b"first\n")), 1)),
                1 => {
                    probes.release_slow.notified().await;
                    Some((Ok(Bytes::from_static(b"second\n")), 2))
                }
                _ => None,
            }
        }
    });
    Body::from_stream(stream).into_response()
}

async fn ws(upgrade: WebSocketUpgrade, request_headers: HeaderMap, uri: http::Uri) -> Response {
    let hello = serde_json::json!({
        "query": uri.query(),
        "headers": headers_json(&request_headers),
    })
    .to_string();
    upgrade.on_upgrade(move |socket| relay(socket, hello))
}

async fn relay(mut socket: WebSocket, hello: String) {
    if socket.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let echoed = match message {
            Message::Text(text) => socket.send(Message::Text(text)).await,
            Message::Close(_) => return,
            _ => Ok(()),
        };
        if echoed.is_err() {
            return;
        }
    }
}

/// Starts the upstream on a free loopback port in the current runtime.
pub async fn start() -> Upstream {
    let probes = Arc::new(Probes::default());
    let app = Router::new()
        .route("/ws", get(ws))
        .route("/private", get(private))
        .route("/upload", post(upload))
        .route("/slow", get(slow))
        .fallback(echo)
        .with_state(probes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Upstream { addr, probes }
}
