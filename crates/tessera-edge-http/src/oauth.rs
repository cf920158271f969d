//! The OAuth 2.0 dialect of Tessera's decision, for resource servers that already speak it
//! (Spring Security's opaque-token support, Apache `mod_auth_openidc`, zitadel/oidc, authlib):
//!
//! * `POST /oauth2/introspect` (RFC 7662) answers what Tessera's Introspect says about the form's
//!   `token`, through the same [`HttpAuthority`] (decision cache, revocation feed) the gate uses;
//! * `POST /oauth2/revoke` (RFC 7009) revokes the form's `token` and everything derived from it,
//!   returning once the revocation reached the feed's followers, like a gRPC Revoke;
//! * `GET /.well-known/oauth-authorization-server` (RFC 8414) describes both, and
//!   `GET /.well-known/jwks.json` serves Tessera's JWT keys (GetJwks).
//!
//! The issuer is `--public-url` when set, else the request's own origin ([`own_origin`]).
//!
//! # Caller authentication
//!
//! A resource server calling `/oauth2/introspect` authenticates with a Tessera service token
//! holding `introspect` (`tessera token issue --service --permission introspect`), vetted by
//! [`HttpAuthority::vet_caller`], in one of three ways:
//!
//! * `Authorization: Bearer <service token>`;
//! * HTTP Basic (`client_secret_basic`): **client_secret = the service token**, client_id = any
//!   name (a label for the resource server's own configuration; Tessera ignores it, so nothing
//!   about the caller depends on it);
//! * form members `client_id` / `client_secret` (`client_secret_post`), mapped the same way.
//!
//! No caller, an inactive one or one without `introspect` gets 401 `invalid_client` (RFC 6749
//! §5.2). `/oauth2/revoke` takes the same credentials but needs none: holding a token's secret is
//! authority enough to revoke it (Tessera's Revoke rule), so a public client revokes its own token
//! by presenting it, acting as its holder.
//!
//! # Uses of limited-use tokens
//!
//! An HTTP introspection spends one use of a limited-use token, as a gRPC `Introspect` without
//! `peek` does: a resource server introspects the token it was handed in order to serve that
//! request, so a single-use token is accepted exactly once, whichever dialect asks. The caller's
//! own token is only looked at, never used up.
//!
//! # Answers
//!
//! | situation | answer |
//! |---|---|
//! | active token | 200 RFC 7662 members + `tessera_*` extensions (see [`introspection_json`]) |
//! | unknown, malformed, expired, revoked, used-up token | 200 exactly `{"active": false}` |
//! | Tessera cannot decide (PostgreSQL down, overloaded, edge token refused) | 503 + `Retry-After`, never `active: false` |
//! | no caller, caller inactive or lacking `introspect` | 401 `invalid_client` + `WWW-Authenticate` |
//! | no `token`, a repeated member, a token or secret over `bounds::TOKEN` (4096 bytes, gRPC's bound), not a form | 400 `invalid_request` |
//! | body over `--max-json-bytes` | 413 |
//!
//! Revocation answers 200 for any token it was given, known or not (RFC 7009 §2.2), 503 when
//! Tessera cannot decide, 401 `invalid_client` for a presented caller Tessera refuses.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde_json::{json, Map, Value};
use tracing::Instrument as _;

use tessera_client::Introspection;
use tessera_proto::{Failure, Reason};

use crate::answer::{Answer, CalledAs};
use crate::authority::{CallerRefusal, HttpAuthority};
use crate::gate::tessera_call_span;
use crate::origin::own_origin;
use crate::session::read_limited;
use crate::state::AppState;
use crate::token::{check_token_syntax, Token};

/// Path of the RFC 7662 introspection endpoint.
pub const INTROSPECT_PATH: &str = "/oauth2/introspect";
/// Path of the RFC 7009 revocation endpoint.
pub const REVOKE_PATH: &str = "/oauth2/revoke";
/// Path of the RFC 8414 metadata document.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Path of the JWKS document.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The audit reason of a revocation made here.
const REVOKE_REASON: &str = "oauth2 revocation endpoint (RFC 7009)";

mod client_auth;

pub use client_auth::{client_credential, parse_form, ClientAuth, ClientCredential, EndpointForm};

/// The OAuth 2.0 routes, merged into the edge's router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(INTROSPECT_PATH, post(introspect))
        .route(REVOKE_PATH, post(revoke))
        .route(METADATA_PATH, get(metadata))
        .route(JWKS_PATH, get(jwks))
}

/// Why an OAuth endpoint refused a request.
#[derive(Debug)]
pub enum OauthRefusal {
    /// 400 `invalid_request` (RFC 6749 §5.2).
    InvalidRequest(&'static str),
    /// 401 `invalid_client`: the credential presented (how, when any) is not good enough.
    InvalidClient(Option<ClientAuth>, &'static str),
    /// An answer of the edge's one table: 413, 503 (Tessera undecided).
    Edge(Answer),
}

impl OauthRefusal {
    /// The outcome label of the OAuth series.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(..) => "invalid_client",
            Self::Edge(answer) if answer.status == StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            Self::Edge(_) => "invalid_request",
        }
    }
}

impl IntoResponse for OauthRefusal {
    fn into_response(self) -> Response {
        let (status, error, description, challenge) = match self {
            Self::Edge(answer) => return answer.into_response(),
            Self::InvalidRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", why, None),
            Self::InvalidClient(auth, why) => {
                let challenge = match auth {
                    Some(ClientAuth::Bearer) => "Bearer realm=\"tessera\", error=\"invalid_token\"",
                    _ => "Basic realm=\"tessera\"",
                };
                (
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    why,
                    Some(challenge),
                )
            }
        };
        let body = json!({ "error": error, "error_description": description });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if let Some(challenge) = challenge {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, as RFC 6749 §5.1 asks of token answers.
fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The issuer: `--public-url`, else the request's own origin.
pub fn issuer(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    state
        .policy
        .public_url
        .clone()
        .or_else(|| own_origin(&state.policy, headers, uri))
        .map(|origin| origin.as_str().to_owned())
}

/// The RFC 7662 answer about an introspected token. An inactive token is exactly
/// `{"active": false}`. An active one carries:
///
/// | member | from Tessera's Introspect |
/// |---|---|
/// | `scope` | the permissions, space-separated (`*` and `-name` exclusions as Tessera writes them) |
/// | `client_id` | the session the token derives from (Tessera has no OAuth clients; a token is issued to a session), when it has one |
/// | `username`, `sub` | the account's name and id, when the token acts for an account |
/// | `exp`, `iat`, `nbf` | expiry, issue time, and issue time again (a token is good from issue), as Unix seconds |
/// | `jti` | the token's public id |
/// | `token_type` | `Bearer` |
/// | `iss` | the issuer |
/// | `tessera_namespace` | the namespace (`*`, a name, or a prefix) |
/// | `tessera_elevated` | whether it is an elevated (Unlock) token |
/// | `tessera_uses_remaining` | uses left, for a limited-use token only |
/// | `tessera_kind` | `session`, `elevated`, `api`, `service`, `static` or `master` |
/// | `tessera_roles` | the account's roles |
pub fn introspection_json(answer: &Introspection, issuer: Option<&str>) -> Value {
    if !answer.active {
        return json!({ "active": false });
    }
    let mut body = Map::new();
    let mut put = |name: &str, value: Value| {
        body.insert(name.to_owned(), value);
    };
    let present = |text: &str| (!text.is_empty()).then(|| Value::from(text));
    put("active", true.into());
    put("scope", answer.permissions.join(" ").into());
    for (name, value) in [
        ("client_id", present(&answer.session_id)),
        ("username", present(&answer.username)),
        ("sub", present(&answer.subject)),
        ("iss", issuer.and_then(present)),
    ] {
        if let Some(value) = value {
            put(name, value);
        }
    }
    if let Some(exp) = answer.expires_at {
        put("exp", exp.unix_timestamp().into());
    }
    if let Some(iat) = answer.issued_at {
        put("iat", iat.unix_timestamp().into());
        put("nbf", iat.unix_timestamp().into());
    }
    put("jti", answer.token_id.as_str().into());
    put("token_type", "Bearer".into());
    put("tessera_namespace", answer.namespace.as_str().into());
    put("tessera_elevated", answer.elevated.into());
    if let Some(uses) = answer.uses_remaining {
        put("tessera_uses_remaining", uses.into());
    }
    if let Some(kind) = answer.kind {
        put("tessera_kind", kind.as_str().into());
    }
    put("tessera_roles", answer.roles.clone().into());
    Value::Object(body)
}

/// The RFC 8414 metadata of the issuer `issuer`. Tessera issues tokens through its own API, not
/// OAuth grants, so it lists no grant or response types and no authorization or token endpoint.
pub fn metadata_json(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "response_types_supported": [],
        "grant_types_supported": [],
    })
}

/// The form of a request, or why it is not one: the media type must be
/// `application/x-www-form-urlencoded` and the body at most `--max-json-bytes`.
async fn read_form(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<EndpointForm, OauthRefusal> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OauthRefusal::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = read_limited(body, state.policy.max_json_bytes)
        .await
        .map_err(OauthRefusal::Edge)?;
    parse_form(&bytes)
}

/// A failed Tessera call as the OAuth endpoints answer it: undecided is 503 (never inactive).
fn undecided(failure: &Failure) -> OauthRefusal {
    OauthRefusal::Edge(Answer::for_tessera(failure, CalledAs::Edge))
}

/// Vets the caller of `/oauth2/introspect` with the edge's one check of a machine caller.
async fn vet(
    authority: &HttpAuthority,
    caller: Option<ClientCredential>,
) -> Result<(), OauthRefusal> {
    let Some(caller) = caller else {
        return Err(OauthRefusal::InvalidClient(
            None,
            "authenticate with a Tessera service token holding introspect",
        ));
    };
    match authority.vet_caller(&caller.token).await {
        Ok(_) => Ok(()),
        Err(CallerRefusal::Inactive) => Err(OauthRefusal::InvalidClient(
            Some(caller.auth),
            "the client credential is not an active token",
        )),
        Err(CallerRefusal::LacksIntrospect) => Err(OauthRefusal::InvalidClient(
            Some(caller.auth),
            "the client's token does not hold introspect",
        )),
        Err(CallerRefusal::Undecided(failure)) if failure.reason == Reason::InvalidArgument => {
            Err(OauthRefusal::InvalidClient(
                Some(caller.auth),
                "the client credential is not an active token",
            ))
        }
        Err(CallerRefusal::Undecided(failure)) => Err(undecided(&failure)),
    }
}

/// The JSON answer of a successful request, never cached.
fn json_answer(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    no_store(response.headers_mut());
    response
}

/// The span of one OAuth endpoint's work, under the edge span of the request.
fn endpoint_span(endpoint: &'static str) -> tracing::Span {
    tracing::info_span!("edge.oauth", oauth.endpoint = endpoint)
}

/// `POST /oauth2/introspect`.
async fn introspect(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let outcome = introspection(&state, request)
        .instrument(endpoint_span("introspect"))
        .await;
    let (label, response) = match outcome {
        Ok(body) => {
            let label = if body["active"] == true {
                "active"
            } else {
                "inactive"
            };
            (label, json_answer(body))
        }
        Err(refusal) => (refusal.outcome(), refusal.into_response()),
    };
    state.gate.metrics.oauth_request("introspect", label);
    response
}

async fn introspection(state: &AppState, request: Request) -> Result<Value, OauthRefusal> {
    let (parts, body) = request.into_parts();
    let form = read_form(state, &parts.headers, body).await?;
    let caller = client_credential(&parts.headers, &form)?;
    let authority = &state.gate.authority;
    vet(authority, caller).await?;
    let Some(token) = form.token else {
        return Err(OauthRefusal::InvalidRequest("the form has no token"));
    };
    if check_token_syntax(&token).is_err() {
        return Ok(introspection_json(&Introspection::default(), None));
    }
    let token = Token::new(token);
    let answer = match authority.cached(&token) {
        Ok(answer) => answer,
        Err(miss) => Arc::new({
            let started = Instant::now();
            let answer = authority
                .introspect_missed(miss, &token, false)
                .instrument(tessera_call_span("Introspect"))
                .await;
            state
                .gate
                .metrics
                .tessera_call("Introspect", started.elapsed());
            match answer {
                Ok(answer) => answer,
                // Tessera names the token malformed: as good as unknown.
                Err(failure)
                    if failure.reason == Reason::InvalidArgument
                        && failure.field() == Some("token") =>
                {
                    Introspection::default()
                }
                Err(failure) => return Err(undecided(&failure)),
            }
        }),
    };
    let issuer = issuer(state, &parts.headers, &parts.uri);
    Ok(introspection_json(&answer, issuer.as_deref()))
}

/// `POST /oauth2/revoke`.
async fn revoke(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let outcome = revocation(&state, request)
        .instrument(endpoint_span("revoke"))
        .await;
    let (label, response) = match outcome {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            ("ok", response)
        }
        Err(refusal) => (refusal.outcome(), refusal.into_response()),
    };
    state.gate.metrics.oauth_request("revoke", label);
    response
}

async fn revocation(state: &AppState, request: Request) -> Result<(), OauthRefusal> {
    let (parts, body) = request.into_parts();
    let form = read_form(state, &parts.headers, body).await?;
    let caller = client_credential(&parts.headers, &form)?;
    let Some(token) = form.token else {
        return Err(OauthRefusal::InvalidRequest("the form has no token"));
    };
    // An invalid token is no error (RFC 7009 §2.2): there is nothing to revoke.
    if check_token_syntax(&token).is_err() {
        return Ok(());
    }
    let token = Token::new(token);
    let authority = &state.gate.authority;
    let started = Instant::now();
    // Without a client credential, the holder revokes its own token, acting as it.
    let acting_as = caller.as_ref().map_or(&token, |caller| &caller.token);
    let revoked = authority
        .revoke_token_as(acting_as, &token, REVOKE_REASON)
        .instrument(tessera_call_span("Revoke"))
        .await;
    state.gate.metrics.tessera_call("Revoke", started.elapsed());
    let Err(failure) = revoked else {
        return Ok(());
    };
    let reason = failure.reason;
    if reason.is_undecided() {
        return Err(OauthRefusal::Edge(Answer::for_tessera(
            &failure,
            CalledAs::User,
        )));
    }
    match &caller {
        // The presented client is refused: its own problem, said as RFC 6749 says it.
        Some(caller) if reason.refuses_caller() => Err(OauthRefusal::InvalidClient(
            Some(caller.auth),
            "the client credential is not an active token",
        )),
        // Acting as the token itself: refused means it is already not active.
        None if reason.refuses_caller() => Ok(()),
        _ if reason == Reason::InvalidArgument => Ok(()),
        _ => Err(OauthRefusal::Edge(Answer::for_tessera(
            &failure,
            CalledAs::User,
        ))),
    }
}

/// `GET /.well-known/oauth-authorization-server`.
async fn metadata(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let (label, response) = match issuer(&state, &headers, &uri) {
        Some(issuer) => {
            let mut response = axum::Json(metadata_json(&issuer)).into_response();
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            ("ok", response)
        }
        None => {
            let refusal =
                OauthRefusal::InvalidRequest("no Host to name the issuer by; set --public-url");
            (refusal.outcome(), refusal.into_response())
        }
    };
    state.gate.metrics.oauth_request("metadata", label);
    response
}

/// `GET /.well-known/jwks.json`: GetJwks's document as it is.
async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let started = Instant::now();
    let keys = state
        .gate
        .authority
        .jwks()
        .instrument(tessera_call_span("GetJwks"))
        .await;
    state
        .gate
        .metrics
        .tessera_call("GetJwks", started.elapsed());
    let (label, response) = match keys {
        Ok(keys) => {
            let mut response = keys.json.into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            ("ok", response)
        }
        Err(failure) => {
            let refusal = undecided(&failure);
            (refusal.outcome(), refusal.into_response())
        }
    };
    state.gate.metrics.oauth_request("jwks", label);
    response
}

#[cfg(test)]
mod tests;
