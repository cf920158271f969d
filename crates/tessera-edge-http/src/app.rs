//! The router: the edge's own endpoints, the proxy as fallback, and the guard every request passes
//! first (request-head size limit, removal of client-supplied identity headers).
//!
//! Reserved paths (never proxied): `/api/v1/public/ping`, `/auth/verify`, `/auth/envoy/*`,
//! `/auth/tokens`, `/login`, `/logout`, `/api/auth/session/*`, `/api/auth/root/*`, the OAuth 2.0
//! endpoints of [`crate::oauth`] (`/oauth2/*`, `/.well-known/oauth-authorization-server`,
//! `/.well-known/jwks.json`) and the gRPC paths of Envoy's Check service and its reflection (see
//! [`crate::ext_authz`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use http::{HeaderValue, Method};
use tracing::Instrument as _;

use crate::answer::Answer;
use crate::identity::strip_identity_headers;
use crate::login_page;
pub use crate::login_page::refusal;
use crate::proxy;
use crate::routes::canonical_method;
pub use crate::state::AppState;
use crate::{ext_authz, session, verify};

/// The edge's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/public/ping", get(ping))
        .route("/auth/verify", any(verify::verify))
        .route("/auth/tokens", post(session::issue_token))
        .route("/login", get(login_page::show).post(login_page::submit))
        .route("/logout", post(login_page::logout))
        .route("/api/auth/session/login", post(session::login))
        .route("/api/auth/session/logout", post(session::logout))
        .route("/api/auth/session/status", get(session::status))
        .route("/api/auth/root/unlock", post(session::unlock))
        .route("/api/auth/root/lock", post(session::lock))
        .route("/api/auth/root/status", get(session::root_status))
        .route("/auth/envoy", any(verify::envoy))
        .route("/auth/envoy/", any(verify::envoy))
        .route("/auth/envoy/{*path}", any(verify::envoy))
        .merge(ext_authz::routes(state.clone()))
        .merge(crate::oauth::routes())
        .fallback(proxy::handle)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Size of the request head as it arrived, roughly: request line and header lines.
pub fn head_size(request: &Request) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    request.method().as_str().len() + target + 12 + headers
}

/// Outermost: the edge span of every request (continuing an incoming `traceparent`; it names
/// the method only, never the path or query, which may carry a credential) and the request series.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    };
    let span = tracing::info_span!(
        "edge.http",
        otel.name = %format_args!("{method} edge"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.response.status_code = tracing::field::Empty,
    );
    tessera_telemetry::continue_trace(&span, request.headers());
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    state.gate.metrics.request(status, started.elapsed());
    response
}

/// Runs before every handler: refuses oversized heads (HTTP/2 has no hyper-side byte limit that
/// answers 431), makes the method canonical (or refuses it) so every later check and the upstream
/// see the same method, and drops every client-supplied identity header in any spelling (marking
/// the request when one was spelled with `_`, for the gate to refuse).
async fn guard(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    if head_size(&request) > state.max_header_bytes {
        return Answer::headers_too_large(state.max_header_bytes).into_response();
    }
    match canonical_method(request.method()) {
        Ok(method) => *request.method_mut() = method,
        Err(error) => return Answer::bad_request(error.to_string()).into_response(),
    }
    if let Some(forged) = strip_identity_headers(request.headers_mut()) {
        request.extensions_mut().insert(forged);
    }
    next.run(request).await
}

async fn ping() -> Response {
    let mut response = axum::Json(serde_json::json!({ "status": "ok" })).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests;
