//! The edge's one error table: Tessera's failures (by `google.rpc.ErrorInfo` reason) and the
//! edge's own refusals, turned into HTTP answers shaped by RFC 6750.
//!
//! | reason (or refusal) | called with the edge's token | called with the user's token / no token |
//! |---|---|---|
//! | token inactive (`active: false`), no token | — | 401 `invalid_token` |
//! | `AUTH_REQUIRED`, `AUTH_FAILED` | 503 (edge token refused) | 401 `invalid_token` |
//! | `AUTH_DENIED`, `PRIVILEGE_EXCEEDED`, `ELEVATION_REQUIRED`, `OVER_PRIVILEGED` | 503 | 403 `insufficient_scope` (reason in `tessera_reason`) |
//! | namespace rule denies | 403 `insufficient_scope` | — |
//! | `INVALID_CREDENTIALS`, `MFA_REQUIRED` | — | 401 `invalid_credentials` / `mfa_required` |
//! | `ACCOUNT_LOCKED` | — | 429 `account_locked` |
//! | `INVALID_ARGUMENT` on field `token` | 401 `invalid_token` | 401 `invalid_token` |
//! | `INVALID_ARGUMENT` otherwise | 400 `invalid_request` (+ `field`) | 400 `invalid_request` (+ `field`) |
//! | `USER_NOT_FOUND`, `TOKEN_NOT_FOUND` / `USER_EXISTS` | — | 404 `not_found` / 409 `conflict` |
//! | `RESOURCE_EXHAUSTED` | 503 + `Retry-After` | 503 + `Retry-After` |
//! | `UNAVAILABLE`, `INTERNAL`, `RESYNC_REQUIRED`, timeouts, anything unknown | 503 (fail closed) | 503 (fail closed) |
//!
//! The OAuth 2.0 endpoints ([`crate::oauth`]) speak RFC 6749 §5.2 instead of RFC 6750 for what
//! is theirs to say, and use this table for the rest:
//!
//! | reason (or refusal) | `POST /oauth2/introspect` | `POST /oauth2/revoke` |
//! |---|---|---|
//! | token inactive, unknown, malformed, `INVALID_ARGUMENT` on `token` | 200 `{"active": false}` | 200 (nothing to revoke) |
//! | no client credential, client inactive or lacking `introspect` | 401 `invalid_client` | — (no credential needed) |
//! | presented client refused (`AUTH_*`, `PRIVILEGE_*`, `ELEVATION_REQUIRED`) | 401 `invalid_client` | 401 `invalid_client` |
//! | no `token`, repeated member, not a form | 400 `invalid_request` | 400 `invalid_request` |
//! | `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, timeouts, edge token refused | 503 + `Retry-After` (never inactive) | 503 + `Retry-After` |
//!
//! The reasons, their classes ([`Reason::refuses_caller`], [`Reason::is_undecided`]) and their
//! HTTP statuses are the contract's one table (`tessera_proto::Reason`); this module adds only
//! the HTTP dialect's words (RFC 6750 errors, descriptions, `Retry-After`).
//!
//! A refusal of the edge's own service token is the operator's problem, not the client's: it is
//! logged and the client sees 503, failing closed.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use tessera_proto::{Failure, Reason};
use tracing::{error, warn};

/// The description of the 401 for a request that presents no token at all.
pub const NO_TOKEN: &str = "no token";

/// Whose token authenticated the failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalledAs {
    /// The edge's service token (Introspect, CheckNamespace).
    Edge,
    /// The user's own token, or none (Login, Unlock, Revoke, IssueToken).
    User,
}

/// An HTTP answer the edge gives itself: a status, an error code and the RFC 6750 challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// Machine-readable error code for the JSON body (`invalid_token`, `insufficient_scope`…).
    pub error: &'static str,
    /// Human-readable explanation, never containing a secret.
    pub description: String,
    /// The RFC 6750 `error` for `WWW-Authenticate`, when one belongs on the answer.
    pub challenge: Option<&'static str>,
    /// Tessera's reason, when Tessera said no.
    pub tessera_reason: Option<Reason>,
    /// The field at fault, when known.
    pub field: Option<String>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u32>,
}

impl Answer {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            challenge: None,
            tessera_reason: None,
            field: None,
            retry_after: None,
        }
    }

    fn challenge(mut self, error: &'static str) -> Self {
        self.challenge = Some(error);
        self
    }

    /// 401: a missing, bad, expired, revoked or used-up token (never saying which).
    pub fn invalid_token(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description).challenge("invalid_token")
    }

    /// 400: a malformed credential or request.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
            .challenge("invalid_request")
    }

    /// 400 for a malformed request that has nothing to do with credentials.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 403: a namespace rule or Tessera denied the token this request.
    pub fn insufficient_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "insufficient_scope", description)
            .challenge("insufficient_scope")
    }

    /// 403: a cookie-authenticated state change from another origin.
    pub fn cross_origin() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "cookie-authenticated requests that change state must come from this origin",
        )
    }

    /// 403: session login over plain HTTP without the development flag.
    pub fn https_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "https_required",
            "session login needs https (or --insecure-dev-http for development)",
        )
    }

    /// 413: a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body over {limit} bytes"),
        )
    }

    /// 415: the edge's JSON endpoints take JSON only (which also keeps plain forms from other
    /// sites out).
    pub fn json_required() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
            "content-type must be application/json",
        )
    }

    /// 431: request head over the limit.
    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers over {limit} bytes"),
        )
    }

    /// 503: the edge cannot get a decision, so it refuses (fail closed).
    pub fn unavailable(description: impl Into<String>) -> Self {
        let mut answer = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            description,
        );
        answer.retry_after = Some(1);
        answer
    }

    /// 503 `busy`: the listener refused the connection (every slot taken, or its address holds
    /// too many connections that have not sent a request yet).
    pub fn busy() -> Self {
        let mut answer = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many connections; retry shortly",
        );
        answer.retry_after = Some(1);
        answer
    }

    /// 502 / 504: the upstream could not be reached or did not answer.
    pub fn bad_gateway(status: StatusCode, description: impl Into<String>) -> Self {
        Self::new(status, "upstream_unavailable", description)
    }

    /// 404 for paths the edge does not serve when it has no upstream.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    }

    /// The table: a failed Tessera call as an HTTP answer.
    pub fn for_tessera(error: &Failure, called_as: CalledAs) -> Self {
        let reason = error.reason;
        let mut answer = if reason.is_undecided() {
            Self::undecided(error)
        } else if reason.refuses_caller() {
            Self::caller_refused(reason, called_as)
        } else {
            Self::request_refused(error)
        };
        answer.tessera_reason = Some(reason);
        answer
    }

    /// Tessera could not decide: 503, fail closed.
    fn undecided(error: &Failure) -> Self {
        if error.reason == Reason::ResourceExhausted {
            return Self::unavailable("the authentication service is busy");
        }
        warn!(reason = %error.wire_reason, code = ?error.code, "tessera gave no decision");
        Self::unavailable("the authentication service is unavailable")
    }

    /// Tessera refused the caller's token: the user's (401/403) or the edge's own (503, logged:
    /// the operator's problem, not the client's).
    fn caller_refused(reason: Reason, called_as: CalledAs) -> Self {
        if called_as == CalledAs::Edge {
            error!(
                reason = reason.as_str(),
                "tessera refused the edge's service token"
            );
            return Self::unavailable("the authentication service cannot decide right now");
        }
        match reason {
            Reason::AuthRequired | Reason::AuthFailed => {
                Self::invalid_token("the token is not active")
            }
            Reason::PrivilegeExceeded => {
                Self::insufficient_scope("the request asks for more than the caller holds")
            }
            Reason::ElevationRequired => {
                Self::insufficient_scope("this needs an elevated token (root unlock)")
            }
            Reason::OverPrivileged => {
                Self::insufficient_scope("the token holds more than this job allows")
            }
            _ => Self::insufficient_scope("insufficient scope"),
        }
    }

    /// Tessera refused the request itself (credentials at login, input, what it names).
    fn request_refused(error: &Failure) -> Self {
        let status = StatusCode::from_u16(error.reason.http_status())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        match error.reason {
            Reason::InvalidCredentials => Self::new(
                status,
                "invalid_credentials",
                "wrong username, password or code",
            ),
            Reason::MfaRequired => {
                Self::new(status, "mfa_required", "this account needs a TOTP code")
            }
            Reason::AccountLocked => {
                let mut locked = Self::new(
                    status,
                    "account_locked",
                    "too many failed attempts; try again later",
                );
                locked.retry_after = Some(60);
                locked
            }
            Reason::InvalidArgument if error.field() == Some("token") => {
                Self::invalid_token("the token is not active")
            }
            Reason::InvalidArgument => {
                let mut bad = Self::bad_request(match error.field() {
                    Some(field) => format!("tessera rejected field {field}"),
                    None => "tessera rejected the request".to_owned(),
                });
                bad.field = error.field().map(str::to_owned);
                bad
            }
            Reason::UserExists => Self::new(status, "conflict", "it already exists"),
            _ => Self::new(status, "not_found", "no such account or token"),
        }
    }

    /// The reason from the contract's table this answer stands for: Tessera's own, or for a
    /// refusal the edge made itself, the reason Tessera gives for the same refusal.
    pub fn reason(&self) -> Reason {
        if let Some(reason) = self.tessera_reason {
            return reason;
        }
        match self.status {
            StatusCode::UNAUTHORIZED if self.description == NO_TOKEN => Reason::AuthRequired,
            StatusCode::UNAUTHORIZED => Reason::AuthFailed,
            StatusCode::FORBIDDEN => Reason::AuthDenied,
            status if status.is_client_error() => Reason::InvalidArgument,
            _ => Reason::Unavailable,
        }
    }

    /// The `WWW-Authenticate` value, when the answer carries a challenge.
    pub fn www_authenticate(&self) -> Option<String> {
        let error = self.challenge?;
        Some(format!(
            "Bearer realm=\"tessera\", error=\"{error}\", error_description=\"{}\"",
            self.description.replace(['"', '\\'], "'")
        ))
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        });
        if let Some(reason) = self.tessera_reason {
            body["tessera_reason"] = reason.as_lower().into();
        }
        if let Some(field) = &self.field {
            body["field"] = field.as_str().into();
        }
        body
    }

    /// Headers every answer carries: the challenge, `Retry-After`, no caching.
    pub fn apply_headers(&self, headers: &mut http::HeaderMap) {
        if let Some(value) = self
            .www_authenticate()
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        } else if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }

    /// The answer as a whole HTTP/1.1 response that closes the connection, for the listener,
    /// which refuses a connection before any HTTP has been read.
    pub fn to_http1_bytes(&self) -> Vec<u8> {
        let body = self.body().to_string();
        let mut headers = http::HeaderMap::new();
        self.apply_headers(&mut headers);
        let reason = self.status.canonical_reason().unwrap_or("");
        let mut text = format!("HTTP/1.1 {} {reason}\r\n", self.status.as_u16());
        for (name, value) in &headers {
            if let Ok(value) = value.to_str() {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        text.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ));
        text.into_bytes()
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        self.apply_headers(response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests;
