//! A tower layer that authenticates the callers of a tonic or axum service with Tessera, so a
//! Rust service protects itself in five lines.
//!
//! For every request it reads `authorization: Bearer <token>`, asks Tessera `Introspect` about
//! the token (with the service's own token as the caller), optionally asks `CheckNamespace`
//! about an identifier taken from the request, and on success puts the [`Caller`] into the
//! request's extensions. Refusals are answered in the protocol's own terms:
//!
//! | situation | HTTP (RFC 6750) | gRPC |
//! |---|---|---|
//! | no bearer token | 401, `WWW-Authenticate: Bearer realm="…"` | `UNAUTHENTICATED` |
//! | token not active | 401, `error="invalid_token"` | `UNAUTHENTICATED` |
//! | identifier outside the namespace | 403, `error="insufficient_scope"` | `PERMISSION_DENIED` |
//! | Tessera cannot decide (or refuses the service's own token) | 503 | `UNAVAILABLE` |
//!
//! It fails closed: without an answer from Tessera nothing passes.
//!
//! ```no_run
//! use axum::{routing::get, Extension, Router};
//! use tessera_client::layer::{Caller, TesseraAuthLayer};
//! use tessera_client::{Client, Secret};
//!
//! # async fn example() -> Result<(), tessera_client::Error> {
//! let tessera = Client::builder()
//!     .address("http://127.0.0.1:50051")
//!     .token(Secret::new("tsr_svc_…".into()))
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/whoami", get(|Extension(caller): Extension<Caller>| async move { caller.username.clone() }))
//!     .layer(TesseraAuthLayer::http(tessera));
//! # let _ = app; Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header, HeaderValue, StatusCode};
use tower_layer::Layer;
use tower_service::Service;
use tracing::{debug, error, warn};

use crate::client::Client;
use crate::error::{Error, Reason};
use crate::types::Introspection;

/// Who is calling: what Tessera said about the request's token. In the request extensions of
/// every request the layer lets through (`Extension<Caller>` in axum,
/// `request.extensions().get::<Caller>()` in tonic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Introspection);

impl std::ops::Deref for Caller {
    type Target = Introspection;

    fn deref(&self) -> &Introspection {
        &self.0
    }
}

/// Which protocol refusals are spoken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP status codes with RFC 6750 `WWW-Authenticate` challenges.
    Http,
    /// gRPC statuses (trailers-only responses).
    Grpc,
}

type Extractor = dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync;

struct Guard {
    client: Client,
    protocol: Protocol,
    realm: String,
    peek: bool,
    namespace: Option<Box<Extractor>>,
    action: String,
}

/// Authenticates every request with Tessera; see the [module documentation](self).
#[derive(Clone)]
pub struct TesseraAuthLayer {
    guard: Arc<Guard>,
}

impl std::fmt::Debug for TesseraAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TesseraAuthLayer")
            .field("protocol", &self.guard.protocol)
            .field("namespace_check", &self.guard.namespace.is_some())
            .finish_non_exhaustive()
    }
}

impl TesseraAuthLayer {
    /// For an HTTP service (axum, hyper): refusals as RFC 6750 answers. `client` calls with the
    /// service's own token, which needs `introspect`.
    pub fn http(client: Client) -> Self {
        Self::new(client, Protocol::Http)
    }

    /// For a tonic service: refusals as gRPC statuses.
    ///
    /// ```no_run
    /// use tessera_client::layer::TesseraAuthLayer;
    ///
    /// # async fn example(tessera: tessera_client::Client, routes: tonic::service::Routes) -> Result<(), Box<dyn std::error::Error>> {
    /// tonic::transport::Server::builder()
    ///     .layer(TesseraAuthLayer::grpc(tessera))
    ///     .add_routes(routes)
    ///     .serve("127.0.0.1:50052".parse()?)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn grpc(client: Client) -> Self {
        Self::new(client, Protocol::Grpc)
    }

    fn new(client: Client, protocol: Protocol) -> Self {
        TesseraAuthLayer {
            guard: Arc::new(Guard {
                client,
                protocol,
                realm: "tessera".to_owned(),
                peek: false,
                namespace: None,
                action: String::new(),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Guard)) -> Self {
        let mut guard = Arc::try_unwrap(self.guard).unwrap_or_else(|shared| Guard {
            client: shared.client.clone(),
            protocol: shared.protocol,
            realm: shared.realm.clone(),
            peek: shared.peek,
            namespace: None,
            action: shared.action.clone(),
        });
        change(&mut guard);
        TesseraAuthLayer {
            guard: Arc::new(guard),
        }
    }

    /// Checks the identifier `extract` finds in each request against the token's namespace
    /// (`CheckNamespace`, with `action` when not empty); a request where it finds none is only
    /// authenticated.
    ///
    /// ```no_run
    /// use tessera_client::layer::TesseraAuthLayer;
    ///
    /// # fn example(tessera: tessera_client::Client) {
    /// // `/jobs/deploy.daily` is checked as identifier `deploy.daily`.
    /// let layer = TesseraAuthLayer::http(tessera).namespace_from(
    ///     |parts| parts.uri.path().strip_prefix("/jobs/").map(str::to_owned),
    ///     "",
    /// );
    /// # let _ = layer; }
    /// ```
    pub fn namespace_from<F>(self, extract: F, action: &str) -> Self
    where
        F: Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    {
        let action = action.to_owned();
        self.with(move |guard| {
            guard.namespace = Some(Box::new(extract));
            guard.action = action;
        })
    }

    /// Introspects without counting a use of limited-use tokens (default: each request counts
    /// one, as at the edges).
    pub fn peek(self, peek: bool) -> Self {
        self.with(|guard| guard.peek = peek)
    }

    /// The realm named in `WWW-Authenticate` (default `tessera`).
    pub fn realm(self, realm: &str) -> Self {
        let realm: String = realm
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
            .collect();
        self.with(|guard| guard.realm = realm)
    }
}

impl<S> Layer<S> for TesseraAuthLayer {
    type Service = TesseraAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TesseraAuth {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// The service [`TesseraAuthLayer`] wraps around yours.
#[derive(Clone)]
pub struct TesseraAuth<S> {
    inner: S,
    guard: Arc<Guard>,
}

impl<S> std::fmt::Debug for TesseraAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TesseraAuth").finish_non_exhaustive()
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NoToken,
    InvalidToken,
    OutsideNamespace,
    Unavailable,
}

/// The bearer token of `authorization`, scheme compared case-insensitively (RFC 6750 §2.1).
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

impl Guard {
    async fn admit(&self, parts: &http::request::Parts) -> Result<Caller, Refusal> {
        let token = bearer_token(&parts.headers).ok_or(Refusal::NoToken)?;
        let answer = if self.peek {
            self.client.peek(token).await
        } else {
            self.client.introspect(token).await
        };
        let me = answer.map_err(|e| self.refusal(&e))?;
        if !me.active {
            return Err(Refusal::InvalidToken);
        }
        if let Some(identifier) = self.namespace.as_ref().and_then(|extract| extract(parts)) {
            let decision = self
                .client
                .check_namespace(token, [identifier], &self.action)
                .await
                .map_err(|e| self.refusal(&e))?;
            if !decision.active {
                return Err(Refusal::InvalidToken);
            }
            if !decision.allowed {
                debug!(token_id = %me.token_id, "identifier outside the token's namespace");
                return Err(Refusal::OutsideNamespace);
            }
        }
        Ok(Caller(me))
    }

    fn refusal(&self, error: &Error) -> Refusal {
        match error.reason() {
            // Tessera refused the identifier or the token's spelling: the request's fault.
            Reason::InvalidArgument if error.field() == Some("token") => Refusal::InvalidToken,
            Reason::InvalidArgument => Refusal::OutsideNamespace,
            // Our own service token was refused: the operator's problem; fail closed.
            Reason::AuthRequired
            | Reason::AuthFailed
            | Reason::AuthDenied
            | Reason::OverPrivileged => {
                error!(reason = %error.wire_reason(), "tessera refused this service's own token");
                Refusal::Unavailable
            }
            _ => {
                warn!(reason = %error.wire_reason(), "tessera could not decide; refusing");
                Refusal::Unavailable
            }
        }
    }

    fn answer<B: Default>(&self, refusal: Refusal) -> http::Response<B> {
        match self.protocol {
            Protocol::Grpc => {
                let status = match refusal {
                    Refusal::NoToken => {
                        tonic::Status::unauthenticated("a bearer token is required")
                    }
                    Refusal::InvalidToken => {
                        tonic::Status::unauthenticated("the token is not active")
                    }
                    Refusal::OutsideNamespace => {
                        tonic::Status::permission_denied("insufficient namespace scope")
                    }
                    Refusal::Unavailable => {
                        tonic::Status::unavailable("the auth service is unavailable")
                    }
                };
                status.into_http()
            }
            Protocol::Http => {
                let (status, challenge) = match refusal {
                    Refusal::NoToken => (StatusCode::UNAUTHORIZED, String::new()),
                    Refusal::InvalidToken => (
                        StatusCode::UNAUTHORIZED,
                        r#", error="invalid_token", error_description="the token is not active""#
                            .to_owned(),
                    ),
                    Refusal::OutsideNamespace => (
                        StatusCode::FORBIDDEN,
                        r#", error="insufficient_scope", error_description="insufficient namespace scope""#
                            .to_owned(),
                    ),
                    Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
                };
                let mut response = http::Response::new(B::default());
                *response.status_mut() = status;
                if status != StatusCode::SERVICE_UNAVAILABLE {
                    let value = format!("Bearer realm=\"{}\"{challenge}", self.realm);
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        response
                            .headers_mut()
                            .insert(header::WWW_AUTHENTICATE, value);
                    }
                } else {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        }
    }
}

type Answer<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, RB> Service<http::Request<B>> for TesseraAuth<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = Answer<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was made ready serves this request; a fresh clone stays behind.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let guard = self.guard.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match guard.admit(&parts).await {
                Ok(caller) => {
                    parts.extensions.insert(caller);
                    inner.call(http::Request::from_parts(parts, body)).await
                }
                Err(refusal) => Ok(guard.answer(refusal)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_as_rfc_6750_writes_them() {
        let headers = |value: &str| {
            let mut map = http::HeaderMap::new();
            map.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            map
        };
        assert_eq!(
            bearer_token(&headers("Bearer tsr_api_x")),
            Some("tsr_api_x")
        );
        assert_eq!(
            bearer_token(&headers("bearer tsr_api_x")),
            Some("tsr_api_x")
        );
        assert_eq!(bearer_token(&headers("Basic dXNlcjpwdw==")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer a b")), None);
        assert_eq!(bearer_token(&http::HeaderMap::new()), None);
    }
}
