//! The built-in demo upstream (`--demo-upstream`): a small web service on a free loopback port
//! that shows who the edge says you are. `GET /` is a page; every other path echoes the request
//! (method, path, query and headers) as JSON, which makes the edge's work visible with curl.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use http::HeaderMap;
use tokio::net::TcpListener;

use crate::identity::IDENTITY_HEADERS;
use crate::login_page::{apply_page_headers, escape, page};

fn header<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn whoami(headers: HeaderMap) -> Response {
    let rows: String = IDENTITY_HEADERS
        .iter()
        .map(|name| {
            format!(
                "<tr><th>{}</th><td id=\"{}\">{}</td></tr>",
                escape(name.as_str()),
                escape(name.as_str()),
                escape(header(&headers, name))
            )
        })
        .collect();
    let body = format!(
        "<p>This page sits behind tessera-edge-http. The edge told it:</p>\
         <table>{rows}</table>\
         <form method=\"post\" action=\"/logout\"><button id=\"logout\" type=\"submit\">Sign out</button></form>\
         <p><a href=\"/api/auth/session/status\">session status</a> · \
         <a href=\"/api/auth/root/status\">root status</a> · <a href=\"/echo\">echo</a></p>"
    );
    let mut response = Html(page("Protected demo", &body)).into_response();
    apply_page_headers(response.headers_mut());
    response
}

async fn echo(request: Request) -> Response {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes())
                    .into_owned()
                    .into(),
            )
        })
        .collect();
    axum::Json(serde_json::json!({
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "query": request.uri().query(),
        "headers": headers,
    }))
    .into_response()
}

/// The demo service's routes.
pub fn router() -> Router {
    Router::new().route("/", get(whoami)).fallback(echo)
}

/// Starts the demo service on a free loopback port; it runs until the process ends.
pub async fn start() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    // Every socket of the edge's process sends small writes at once (no Nagle delay).
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router()).await {
            tracing::warn!(error = %error, "demo upstream stopped");
        }
    });
    Ok(address)
}
