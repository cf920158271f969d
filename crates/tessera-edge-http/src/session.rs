//! The session REST surface: login, logout and status; root unlock, lock and status; issuing a
//! token as the caller.
//!
//! Session and elevated tokens live only in `HttpOnly` cookies (see [`crate::cookie`]): the JSON
//! answers say who you are and until when, never the secret. Login and unlock set cookies, so they
//! need HTTPS (or `--insecure-dev-http`). Every cookie-authenticated state change must be
//! same-origin; JSON endpoints take `application/json` only, which plain cross-site forms cannot
//! send.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::answer::{Answer, CalledAs};
use crate::cookie::{clear_cookie, set_cookie, ELEVATED_COOKIE, SESSION_COOKIE};
use crate::credentials::{Presented, Source, Token};
use crate::identity::{rfc3339, Identity};
use crate::origin::{self, check_not_cross_origin, check_same_origin, own_origin, Scheme};
use crate::state::AppState;
use tessera_proto::Reason;

/// Reads a body of at most `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, Answer> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Answer::too_large(limit))
        }
        Err(_) => Err(Answer::bad_request("cannot read the request body")),
    }
}

fn has_media_type(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(wanted))
}

/// Reads a JSON body into `T`. Parse errors name a field at most, never echo a value (it could be
/// a password).
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, Answer> {
    if !has_media_type(headers, "application/json") {
        return Err(Answer::json_required());
    }
    let bytes = read_limited(body, limit).await?;
    serde_json::from_slice(&bytes).map_err(|error| {
        let text = error.to_string();
        let detail = if text.starts_with("missing field") || text.starts_with("unknown field") {
            text.split(',')
                .next()
                .unwrap_or_default()
                .replace('`', "")
                .to_owned()
        } else {
            match error.classify() {
                serde_json::error::Category::Data => "a field has the wrong type".to_owned(),
                _ => "the body is not valid JSON".to_owned(),
            }
        };
        Answer::bad_request(format!("invalid request body: {detail}"))
    })
}

/// Whether a session may be opened over this connection.
pub fn require_https(state: &AppState, headers: &HeaderMap) -> Result<(), Answer> {
    if origin::scheme(&state.policy, headers) == Scheme::Https || state.policy.insecure_dev_http {
        Ok(())
    } else {
        Err(Answer::https_required())
    }
}

/// The same-origin check for a request authenticated by `source`.
fn require_same_origin_for(
    state: &AppState,
    source: Source,
    headers: &HeaderMap,
    uri: &http::Uri,
) -> Result<(), Answer> {
    if !source.is_ambient() {
        return Ok(());
    }
    let own = own_origin(&state.policy, headers, uri);
    check_same_origin(&state.policy, headers, own.as_ref()).map_err(|_| Answer::cross_origin())
}

fn seconds_until(at: Option<time::OffsetDateTime>) -> Option<i64> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Some((at?.unix_timestamp() - now).max(0))
}

/// An answer's time as RFC 3339, for JSON bodies.
fn rfc3339_of(at: Option<time::OffsetDateTime>) -> Option<String> {
    rfc3339(at?.unix_timestamp())
}

fn json_response(status: StatusCode, body: serde_json::Value, cookies: &[HeaderValue]) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie.clone());
    }
    response
}

fn validate_login(username: &str, password: &str, totp_code: &str) -> Result<(), Answer> {
    if username.is_empty() || username.len() > 256 || username.chars().any(char::is_control) {
        return Err(Answer::bad_request(
            "username must be 1 to 256 printable characters",
        ));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(Answer::bad_request("password must be 1 to 1024 bytes"));
    }
    if totp_code.len() > 10 || !totp_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Answer::bad_request("totp_code must be digits"));
    }
    Ok(())
}

/// Checks and performs a login: the session cookie to set and the account's public view.
///
/// `client` is the browser's address: Tessera counts the attempt against it, not against the edge,
/// so one client's flood leaves the others room in its hashing pool.
pub async fn open_session(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    username: String,
    password: String,
    totp_code: String,
) -> Result<(tessera_client::Session, HeaderValue), Answer> {
    validate_login(&username, &password, &totp_code)?;
    let mut request = tessera_client::Login::new(username, tessera_client::Secret::new(password));
    if !totp_code.is_empty() {
        request = request.totp(totp_code);
    }
    if let Some(client) = client {
        request = request.for_client(client);
    }
    let session = state
        .gate
        .authority
        .login(request)
        .await
        .map_err(|e| Answer::for_tessera(&e, CalledAs::User))?;
    let cookie = set_cookie(
        SESSION_COOKIE,
        session.token.expose(),
        seconds_until(session.expires_at),
    );
    Ok((session, cookie))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp_code: String,
}

/// `POST /api/auth/session/login`.
pub async fn login(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        require_https(&state, &parts.headers)?;
        let own = own_origin(&state.policy, &parts.headers, &parts.uri);
        check_not_cross_origin(&state.policy, &parts.headers, own.as_ref())
            .map_err(|_| Answer::cross_origin())?;
        let body: LoginBody = read_json(&parts.headers, body, state.policy.max_json_bytes).await?;
        let client = crate::origin::client_ip(
            &state.policy,
            &parts.headers,
            parts.extensions.get::<crate::server::ClientAddr>().copied(),
        );
        open_session(&state, client, body.username, body.password, body.totp_code).await
    }
    .await;
    match result {
        Ok((session, cookie)) => {
            let user = session.user;
            json_response(
                StatusCode::OK,
                json!({
                    "authenticated": true,
                    "subject": user.user_id,
                    "username": user.username,
                    "display_name": user.display_name,
                    "role": user.role,
                    "token_id": session.token_id,
                    "session_id": session.session_id,
                    "expires_at": rfc3339_of(session.expires_at),
                }),
                &[cookie, clear_cookie(ELEVATED_COOKIE)],
            )
        }
        Err(answer) => answer.into_response(),
    }
}

/// Revokes the request's session (bearer or cookie), treating "already gone" as done. `Ok` holds
/// the number of tokens revoked; `Err` means the session may still be alive.
pub async fn end_session(state: &AppState, token: &Token) -> Result<u64, Answer> {
    match state.gate.authority.revoke_own(token, "logout").await {
        Ok(count) => Ok(count),
        Err(e) if matches!(e.reason, Reason::AuthFailed | Reason::AuthRequired) => Ok(0),
        Err(e) => Err(Answer::for_tessera(&e, CalledAs::User)),
    }
}

fn presented(headers: &HeaderMap) -> Result<Presented, Answer> {
    Presented::read(headers, None).map_err(|e| Answer::invalid_request(e.to_string()))
}

/// `POST /api/auth/session/logout`.
pub async fn logout(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let clear = [clear_cookie(SESSION_COOKIE), clear_cookie(ELEVATED_COOKIE)];
    let result = async {
        let Some((token, source)) = presented(&parts.headers)?.session() else {
            return Ok(0);
        };
        require_same_origin_for(&state, source, &parts.headers, &parts.uri)?;
        end_session(&state, &token).await
    }
    .await;
    match result {
        Ok(count) => json_response(StatusCode::OK, json!({ "revoked": count }), &clear),
        Err(answer) => answer.into_response(),
    }
}

/// `GET /api/auth/session/status`.
pub async fn status(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let headers = request.headers();
    let credential = match presented(headers) {
        Ok(presented) => presented.session(),
        Err(answer) => return answer.into_response(),
    };
    let Some((token, source)) = credential else {
        return json_response(StatusCode::OK, json!({ "authenticated": false }), &[]);
    };
    match state.gate.authority.introspect(&token, false).await {
        Ok(me) if me.active => {
            let mut body = Identity::from_introspection(&me).to_json();
            body["authenticated"] = true.into();
            json_response(StatusCode::OK, body, &[])
        }
        Ok(_) => {
            let clear: &[HeaderValue] = if source == Source::SessionCookie {
                &[clear_cookie(SESSION_COOKIE)]
            } else {
                &[]
            };
            json_response(StatusCode::OK, json!({ "authenticated": false }), clear)
        }
        Err(e) => Answer::for_tessera(&e, CalledAs::Edge).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockBody {
    password: String,
    #[serde(default)]
    totp_code: String,
    #[serde(default)]
    ttl: String,
}

/// `POST /api/auth/root/unlock`: an elevated child of the caller's session, kept in its own
/// `HttpOnly` cookie so no script ever holds it.
pub async fn unlock(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        require_https(&state, &parts.headers)?;
        let (session, source) = presented(&parts.headers)?
            .session()
            .ok_or_else(|| Answer::invalid_token("no session"))?;
        require_same_origin_for(&state, source, &parts.headers, &parts.uri)?;
        let body: UnlockBody = read_json(&parts.headers, body, state.policy.max_json_bytes).await?;
        if body.password.is_empty() || body.password.len() > 1024 || body.ttl.len() > 32 {
            return Err(Answer::bad_request(
                "password must be 1 to 1024 bytes, ttl short",
            ));
        }
        let mut request = tessera_client::Unlock::new(tessera_client::Secret::new(body.password));
        if !body.totp_code.is_empty() {
            request = request.totp(body.totp_code);
        }
        if !body.ttl.is_empty() {
            request = request.ttl(body.ttl);
        }
        state
            .gate
            .authority
            .unlock(&session, request)
            .await
            .map_err(|e| Answer::for_tessera(&e, CalledAs::User))
    }
    .await;
    match result {
        Ok(elevated) => {
            let cookie = set_cookie(
                ELEVATED_COOKIE,
                elevated.token.expose(),
                seconds_until(elevated.expires_at),
            );
            json_response(
                StatusCode::OK,
                json!({
                    "elevated": true,
                    "token_id": elevated.token_id,
                    "expires_at": rfc3339_of(elevated.expires_at),
                }),
                &[cookie],
            )
        }
        Err(answer) => answer.into_response(),
    }
}

/// `POST /api/auth/root/lock`: revokes the elevated token.
pub async fn lock(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let result = async {
        let Some(elevated) = presented(&parts.headers)?.elevated_cookie else {
            return Ok(0);
        };
        require_same_origin_for(&state, Source::ElevatedCookie, &parts.headers, &parts.uri)?;
        end_session(&state, &elevated).await
    }
    .await;
    match result {
        Ok(count) => json_response(
            StatusCode::OK,
            json!({ "elevated": false, "revoked": count }),
            &[clear_cookie(ELEVATED_COOKIE)],
        ),
        Err(answer) => answer.into_response(),
    }
}

/// `GET /api/auth/root/status`.
pub async fn root_status(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let elevated = match presented(request.headers()) {
        Ok(presented) => presented.elevated_cookie,
        Err(answer) => return answer.into_response(),
    };
    let Some(token) = elevated else {
        return json_response(StatusCode::OK, json!({ "elevated": false }), &[]);
    };
    match state.gate.authority.introspect(&token, false).await {
        Ok(me) if me.active && me.elevated => json_response(
            StatusCode::OK,
            json!({
                "elevated": true,
                "token_id": me.token_id,
                "expires_at": rfc3339_of(me.expires_at),
            }),
            &[],
        ),
        Ok(_) => json_response(
            StatusCode::OK,
            json!({ "elevated": false }),
            &[clear_cookie(ELEVATED_COOKIE)],
        ),
        Err(e) => Answer::for_tessera(&e, CalledAs::Edge).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    #[serde(default)]
    ttl: String,
    #[serde(default)]
    remove_on_use: bool,
    #[serde(default)]
    max_uses: Option<u32>,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    description: String,
}

impl IssueBody {
    fn max_uses(&self) -> Result<u32, Answer> {
        match (self.remove_on_use, self.max_uses) {
            (true, None | Some(1)) => Ok(1),
            (true, Some(_)) => Err(Answer::bad_request(
                "remove_on_use means max_uses 1; give one or the other",
            )),
            (false, uses) => Ok(uses.unwrap_or(0)),
        }
    }
}

/// `POST /auth/tokens`: issues a token derived from the caller's session (or bearer token).
pub async fn issue_token(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let (caller, source) = presented(&parts.headers)?
            .session()
            .ok_or_else(|| Answer::invalid_token("no token"))?;
        require_same_origin_for(&state, source, &parts.headers, &parts.uri)?;
        let body: IssueBody = read_json(&parts.headers, body, state.policy.max_json_bytes).await?;
        let mut request = tessera_client::IssueToken::new(body.ttl.clone())
            .max_uses(body.max_uses()?)
            .namespace(body.namespace)
            .description(body.description);
        request.permissions = body.permissions;
        state
            .gate
            .authority
            .issue_token(&caller, request)
            .await
            .map_err(|e| Answer::for_tessera(&e, CalledAs::User))
    }
    .await;
    match result {
        Ok(issued) => json_response(
            StatusCode::CREATED,
            json!({
                "token": issued.token.expose(),
                "token_id": issued.token_id,
                "expires_at": rfc3339_of(issued.expires_at),
                "namespace": issued.namespace,
                "permissions": issued.permissions,
                "max_uses": issued.max_uses,
            }),
            &[],
        ),
        Err(answer) => answer.into_response(),
    }
}
