//! `/auth/verify`: the forward-auth endpoint for nginx `auth_request`, Caddy `forward_auth` and
//! Traefik `ForwardAuth`.
//!
//! The proxy in front copies the client's headers (Authorization, Cookie, Origin…) onto this
//! subrequest and says what the original request was. The client's headers and the proxy's
//! description arrive side by side, so the edge reads the description only from the header family
//! the configured front proxy sets (`--front-proxy`, see [`FrontProxy`]):
//!
//! * nginx: `X-Original-Method` and `X-Original-URI`, set in the auth location (nginx sets
//!   nothing by itself; the README's block also clears client-sent `X-Forwarded-Uri/-Method`);
//! * Caddy and Traefik: `X-Forwarded-Method` and `X-Forwarded-Uri`, which both set themselves;
//! * unset (`auto`): either family, and a request on which both are present and disagree is
//!   refused (400), since one of them came from the client.
//!
//! A request carrying an identity header spelled with `_` is refused (400) on every route, public
//! ones included: the proxy, not the edge, forwards it upstream, where CGI-style servers would read
//! it as an identity header.
//!
//! The answer is 200 with the identity headers for the proxy to copy upstream (all of them empty
//! on a public route), or the same 400/401/403/503 the reverse proxy would give.
//!
//! Any method is accepted, since proxies differ in what they send. A client reaching this endpoint
//! directly learns only whether its own token is good.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::answer::Answer;
use crate::credentials::{is_websocket_upgrade, take_query_token, Presented};
use crate::gate::{upstream_headers, Admission, Subject};
use crate::identity::{ForgedIdentity, IDENTITY_HEADERS};
pub use crate::policy::FrontProxy;
use crate::routes::canonical_method;
use crate::state::AppState;

/// Longest request description (`X-*-Uri`) accepted, in bytes; the request head limit caps it too.
pub const MAX_FORWARDED_URI: usize = 8192;

/// One family of headers describing the original request: (method header, target header).
type Family = (&'static str, &'static str);
const ORIGINAL: Family = ("x-original-method", "x-original-uri");
const FORWARDED: Family = ("x-forwarded-method", "x-forwarded-uri");

/// The header families `front` describes the request with.
fn families_of(front: FrontProxy) -> &'static [Family] {
    match front {
        FrontProxy::Auto => &[ORIGINAL, FORWARDED],
        FrontProxy::Nginx => &[ORIGINAL],
        FrontProxy::Caddy | FrontProxy::Traefik => &[FORWARDED],
    }
}

/// The one value of `name`, trimmed; two copies of it are refused, since the proxy sets one.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Answer> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Answer::bad_request(format!(
            "{name} is given more than once"
        )));
    }
    value
        .to_str()
        .map(|text| Some(text.trim()))
        .map_err(|_| Answer::bad_request(format!("{name} is not text")))
}

/// The value the families agree on for one part of the description (`part` picks the method or
/// the target header of each family).
fn agreed<'h>(
    headers: &'h HeaderMap,
    families: &[Family],
    part: fn(Family) -> &'static str,
) -> Result<Option<&'h str>, Answer> {
    let mut found: Option<(&'static str, &'h str)> = None;
    for family in families {
        let name = part(*family);
        if let Some(value) = single(headers, name)? {
            match found {
                Some((first, earlier)) if earlier != value => {
                    return Err(Answer::bad_request(format!(
                        "{first} and {name} disagree: set --front-proxy to the proxy in front"
                    )))
                }
                Some(_) => {}
                None => found = Some((name, value)),
            }
        }
    }
    Ok(found.map(|(_, value)| value))
}

/// The original request's method (canonical) and path-with-query, as the front proxy describes
/// it; absent headers mean the request to `/auth/verify` itself.
pub fn original(
    headers: &HeaderMap,
    own_method: &Method,
    front: FrontProxy,
) -> Result<(Method, Option<String>), Answer> {
    let families = families_of(front);
    let method = match agreed(headers, families, |f| f.0)? {
        Some(text) => Method::from_bytes(text.as_bytes())
            .map_err(|_| Answer::bad_request("the forwarded method is not a method"))?,
        None => own_method.clone(),
    };
    let method = canonical_method(&method).map_err(|e| Answer::bad_request(e.to_string()))?;
    let target = agreed(headers, families, |f| f.1)?.map(str::to_owned);
    if let Some(target) = &target {
        if !target.starts_with('/') {
            return Err(Answer::bad_request("the forwarded uri must be a path"));
        }
        if target.len() > MAX_FORWARDED_URI {
            return Err(Answer::bad_request(format!(
                "the forwarded uri is over {MAX_FORWARDED_URI} bytes"
            )));
        }
    }
    Ok((method, target))
}

/// `/auth/verify`.
pub async fn verify(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let (method, target) = match original(&parts.headers, &parts.method, state.policy.front_proxy) {
        Ok(original) => original,
        Err(answer) => return answer.into_response(),
    };
    decide(
        &state,
        &parts,
        &method,
        target.as_deref(),
        Asker::ForwardAuth,
    )
    .await
}

/// Where Envoy's HTTP ext_authz mode sends its check: `path_prefix: /auth/envoy`, to which Envoy
/// appends the original path and query, with the original method (Envoy sends only the headers
/// its `allowed_headers` names: `authorization` and `cookie` are needed, and the `x-tessera-*` /
/// `x_tessera_*` spellings so that forged ones are refused).
pub const ENVOY_PREFIX: &str = "/auth/envoy";

/// `/auth/envoy/…`: Envoy's HTTP ext_authz mode. The same decision as `/auth/verify`; on
/// admission the answer also says, in `x-envoy-auth-headers-to-remove`, which request headers
/// Envoy must drop before forwarding (the bearer, unless `--forward-authorization`; `cookie` when
/// it carried only the edge's cookies), and gives the `cookie` header without the edge's cookies
/// for Envoy to copy (list it in `allowed_upstream_headers` beside the identity headers).
pub async fn envoy(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let Some(pq) = parts.uri.path_and_query() else {
        return Answer::bad_request("no request target").into_response();
    };
    let target = match pq.as_str().strip_prefix(ENVOY_PREFIX) {
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
        _ => return Answer::not_found().into_response(),
    };
    decide(&state, &parts, &parts.method, Some(&target), Asker::Envoy).await
}

/// Who asked: a forward-auth proxy, or Envoy in HTTP mode (which can also remove headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asker {
    ForwardAuth,
    Envoy,
}

/// Envoy's header naming the request headers it must remove before forwarding.
const ENVOY_HEADERS_TO_REMOVE: &str = "x-envoy-auth-headers-to-remove";

async fn decide(
    state: &AppState,
    parts: &http::request::Parts,
    method: &Method,
    target: Option<&str>,
    dialect: Asker,
) -> Response {
    if parts.extensions.get::<ForgedIdentity>().is_some() {
        // The front proxy forwards the client's own headers upstream: the edge cannot strip the
        // `_` spelling from what the upstream gets, so it refuses even on a public route.
        return Answer::bad_request(
            "x-tessera-* headers are set by the edge; a client may not send them",
        )
        .into_response();
    }
    let (path, query) = match target {
        Some(target) => match target.split_once('?') {
            Some((path, query)) => (Some(path), Some(query)),
            None => (Some(target), None),
        },
        None => (None, None),
    };
    let mut query_token = None;
    if is_websocket_upgrade(method, &parts.headers) {
        if let Some(query) = query {
            match take_query_token(query) {
                Ok((token, _)) => query_token = token,
                Err(error) => return Answer::invalid_request(error.to_string()).into_response(),
            }
        }
    }
    let presented = Presented::read(&parts.headers, query_token);
    let subject = Subject {
        method,
        path,
        headers: &parts.headers,
        uri: &parts.uri,
        presented: &presented,
        forged_identity: false,
        route: None,
    };
    match state.gate.admit(&state.policy, &subject).await {
        Ok(admission) => admitted(state, &parts.headers, &admission, dialect),
        Err(answer) => answer.into_response(),
    }
}

/// 200 with the identity headers for the proxy to copy upstream (all of them empty on a public
/// route) and, for Envoy, what it must remove.
fn admitted(
    state: &AppState,
    request: &HeaderMap,
    admission: &Admission,
    dialect: Asker,
) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let identity = match admission {
        Admission::Admitted(admitted) => Some(&admitted.identity),
        Admission::Public => None,
    };
    match identity {
        Some(identity) => identity.write_headers(headers),
        // Every identity header, empty: a proxy that copies a header the answer lacks may
        // invent a value (Caddy before 2.9 sends its unexpanded placeholder,
        // `{http.reverse_proxy.header.X-Tessera-Username}`, upstream).
        None => {
            for name in IDENTITY_HEADERS {
                headers.insert(name, HeaderValue::from_static(""));
            }
        }
    }
    if dialect == Asker::Envoy {
        let mut upstream = request.clone();
        upstream_headers(&state.policy, &mut upstream, identity);
        let removed: Vec<&str> = request
            .keys()
            .filter(|name| !upstream.contains_key(*name))
            .map(http::HeaderName::as_str)
            .collect();
        if let Ok(value) = HeaderValue::from_str(&removed.join(",")) {
            if !removed.is_empty() {
                headers.insert(ENVOY_HEADERS_TO_REMOVE, value);
            }
        }
        if let Some(cookie) = upstream
            .get(COOKIE)
            .filter(|c| request.get(COOKIE) != Some(*c))
        {
            headers.insert(COOKIE, cookie.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests;
