//! The reverse proxy: every request no edge endpoint claims is admitted by the [`crate::gate`] and
//! forwarded to the upstream, bodies streamed both ways, WebSocket upgrades spliced through.
//!
//! On the way up the edge drops hop-by-hop headers, its own cookies, the client's `Authorization`
//! on every route, public or not, whatever credential admitted the request (unless
//! `--forward-authorization`) and the `access_token` query parameter of a WebSocket upgrade, and
//! adds the identity and `X-Forwarded-*` headers. On the way down it drops hop-by-hop headers and
//! any attempt of the upstream to set the edge's cookies.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{HeaderName, CONNECTION, HOST, SET_COOKIE, UPGRADE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tracing::{debug, warn};

use crate::answer::Answer;
use crate::cookie::{clear_cookie, strip_edge_set_cookies, ELEVATED_COOKIE};
use crate::credentials::{is_websocket_upgrade, take_query_token, Presented};
use crate::gate::{upstream_headers, Admission, Admitted, Subject};
use crate::identity::ForgedIdentity;
use crate::login_page::refusal;
use crate::origin;
use crate::policy::Policy;
use crate::server::ClientAddr;
use crate::state::AppState;
pub use crate::upstream::Proxy;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers describing the original request that only a trusted proxy may set.
const UNTRUSTED_CLAIMS: [&str; 8] = [
    "forwarded",
    "x-real-ip",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-original-uri",
    "x-original-method",
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Sets `X-Forwarded-For/Proto/Host`; a client's own values count only behind a trusted proxy.
fn set_forwarded(policy: &Policy, headers: &mut HeaderMap, uri: &Uri, client: Option<ClientAddr>) {
    let scheme = origin::scheme(policy, headers);
    let host = origin::host(policy, headers, uri);
    let earlier = policy
        .trust_proxy
        .then(|| {
            headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .flatten();
    if !policy.trust_proxy {
        // Claims only a trusted proxy may make; from a client they are lies to the upstream.
        for claim in UNTRUSTED_CLAIMS {
            headers.remove(claim);
        }
    }
    let mut chain = earlier.unwrap_or_default();
    if let Some(ClientAddr(addr)) = client {
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&addr.ip().to_string());
    }
    let mut set = |name: &'static str, value: &str| match HeaderValue::from_str(value) {
        Ok(value) if !value.is_empty() => {
            headers.insert(name, value);
        }
        _ => {
            headers.remove(name);
        }
    };
    set("x-forwarded-for", &chain);
    set("x-forwarded-proto", scheme.as_str());
    set("x-forwarded-host", host.as_deref().unwrap_or_default());
}

/// The fallback handler, in four steps: admit → build the upstream request → forward → splice
/// the answer (or the upgraded WebSocket) back.
pub async fn handle(State(state): State<std::sync::Arc<AppState>>, request: Request) -> Response {
    let Some(proxy) = state.proxy.clone() else {
        return Answer::not_found().into_response();
    };
    let (mut parts, body) = request.into_parts();
    let websocket = is_websocket_upgrade(&parts.method, &parts.headers);
    let steps = async {
        let (query, admitted) = admit(&state, &parts, websocket).await?;
        let on_client_upgrade = websocket
            .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
            .flatten();
        let stale_elevated = admitted.as_ref().is_some_and(|a| a.stale_elevated);
        let upstream_request = build(&state, &proxy, &mut parts, body, admitted, query, websocket)
            .map_err(IntoResponse::into_response)?;
        let response = forward(&proxy, upstream_request).await?;
        Ok::<_, Response>(splice(response, on_client_upgrade, stale_elevated))
    };
    steps.await.unwrap_or_else(|refused| refused)
}

/// Reads the credentials (a WebSocket may carry its token in the query, which is then taken out)
/// and asks the gate. The query left to forward, and who the request acts for (`None` on a public
/// route).
async fn admit(
    state: &AppState,
    parts: &http::request::Parts,
    websocket: bool,
) -> Result<(Option<String>, Option<Admitted>), Response> {
    let raw_path = parts.uri.path();
    let mut query = parts.uri.query().map(str::to_owned);
    let mut query_token = None;
    if let (true, Some(text)) = (websocket, &query) {
        let (token, rest) = take_query_token(text)
            .map_err(|error| Answer::invalid_request(error.to_string()).into_response())?;
        query_token = token;
        query = (!rest.is_empty()).then_some(rest);
    }
    let presented = Presented::read(&parts.headers, query_token);
    let subject = Subject {
        method: &parts.method,
        path: Some(raw_path),
        headers: &parts.headers,
        uri: &parts.uri,
        presented: &presented,
        forged_identity: parts.extensions.get::<ForgedIdentity>().is_some(),
        route: None,
    };
    match state.gate.admit(&state.policy, &subject).await {
        Ok(Admission::Public) => Ok((query, None)),
        Ok(Admission::Admitted(admitted)) => Ok((query, Some(admitted))),
        Err(answer) => Err(refusal(
            answer,
            &parts.method,
            &parts.headers,
            parts.uri.path_and_query(),
        )),
    }
}

/// The request the upstream gets: the same method, path and body; hop-by-hop headers, the edge's
/// cookies and (unless told otherwise) the bearer removed; forwarding headers and the identity
/// set by the edge.
fn build(
    state: &AppState,
    proxy: &Proxy,
    parts: &mut http::request::Parts,
    body: Body,
    admitted: Option<Admitted>,
    query: Option<String>,
    websocket: bool,
) -> Result<http::Request<Body>, Answer> {
    let raw_path = parts.uri.path();
    let path_and_query = match &query {
        Some(query) => format!("{raw_path}?{query}"),
        None => raw_path.to_owned(),
    };
    let target = proxy
        .target(&path_and_query)
        .map_err(|_| Answer::bad_request("the request target cannot be forwarded"))?;
    let client_addr = parts.extensions.get::<ClientAddr>().copied();
    let mut headers = std::mem::take(&mut parts.headers);
    remove_hop_by_hop(&mut headers);
    set_forwarded(&state.policy, &mut headers, &parts.uri, client_addr);
    headers.remove(HOST);
    upstream_headers(
        &state.policy,
        &mut headers,
        admitted.as_ref().map(|admitted| &admitted.identity),
    );
    if websocket {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    }
    let mut upstream_request = http::Request::new(body);
    *upstream_request.method_mut() = parts.method.clone();
    *upstream_request.uri_mut() = target;
    *upstream_request.version_mut() = Version::HTTP_11;
    *upstream_request.headers_mut() = headers;
    Ok(upstream_request)
}

/// Sends the request upstream; 502 when it cannot be reached.
async fn forward(
    proxy: &Proxy,
    request: http::Request<Body>,
) -> Result<http::Response<hyper::body::Incoming>, Response> {
    proxy.client.request(request).await.map_err(|error| {
        warn!(error = %error, upstream = %proxy.upstream, "upstream request failed");
        Answer::bad_gateway(StatusCode::BAD_GATEWAY, "the upstream cannot be reached")
            .into_response()
    })
}

/// The upstream's answer as the client gets it: hop-by-hop headers and the edge's own cookies
/// removed, a stale elevated cookie cleared; a switch to WebSocket relayed both ways.
fn splice(
    mut response: http::Response<hyper::body::Incoming>,
    on_client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    stale_elevated: bool,
) -> Response {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(on_client_upgrade) = on_client_upgrade else {
            return Answer::bad_gateway(
                StatusCode::BAD_GATEWAY,
                "the upstream switched protocols unasked",
            )
            .into_response();
        };
        let on_upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(relay_websocket(on_client_upgrade, on_upstream_upgrade));
        let (head, _) = response.into_parts();
        return Response::from_parts(head, Body::empty());
    }
    let (mut head, incoming) = response.into_parts();
    remove_hop_by_hop(&mut head.headers);
    strip_edge_set_cookies(&mut head.headers);
    if stale_elevated {
        head.headers
            .append(SET_COOKIE, clear_cookie(ELEVATED_COOKIE));
    }
    Response::from_parts(head, Body::new(incoming))
}

/// Copies bytes both ways between an upgraded client and upstream until either side ends.
async fn relay_websocket(
    on_client_upgrade: hyper::upgrade::OnUpgrade,
    on_upstream_upgrade: hyper::upgrade::OnUpgrade,
) {
    let (client, upstream) = match tokio::join!(on_client_upgrade, on_upstream_upgrade) {
        (Ok(client), Ok(upstream)) => (client, upstream),
        (client, upstream) => {
            debug!(
                client = client.is_ok(),
                upstream = upstream.is_ok(),
                "websocket upgrade not completed"
            );
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        debug!(error = %error, "websocket relay ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_go() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret-Hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("x-app", HeaderValue::from_static("kept"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-app"));
    }

    fn policy(trust_proxy: bool) -> Policy {
        Policy {
            trust_proxy,
            tls: false,
            insecure_dev_http: false,
            allowed_origins: Vec::new(),
            forward_authorization: false,
            max_json_bytes: 1024,
            front_proxy: crate::policy::FrontProxy::Auto,
            ext_authz_callers: crate::policy::ExtAuthzCallers::Token,
            public_url: None,
        }
    }

    #[test]
    fn forwarded_headers_replace_client_claims_unless_the_proxy_is_trusted() {
        let uri: Uri = "/x".parse().unwrap();
        let peer = Some(ClientAddr("10.1.2.3:5555".parse().unwrap()));
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("edge.local"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert("x-real-ip", HeaderValue::from_static("6.6.6.6"));
        let mut untrusted = headers.clone();
        set_forwarded(&policy(false), &mut untrusted, &uri, peer);
        assert_eq!(untrusted["x-forwarded-for"], "10.1.2.3");
        assert_eq!(untrusted["x-forwarded-proto"], "http");
        assert_eq!(untrusted["x-forwarded-host"], "edge.local");
        assert!(!untrusted.contains_key("x-real-ip"));
        set_forwarded(&policy(true), &mut headers, &uri, peer);
        assert_eq!(headers["x-forwarded-for"], "6.6.6.6, 10.1.2.3");
        assert_eq!(headers["x-forwarded-proto"], "https");
    }
}
