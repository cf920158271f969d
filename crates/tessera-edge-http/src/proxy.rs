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
use http::header::{self, HeaderName, CONNECTION, HOST, SET_COOKIE, UPGRADE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tracing::{debug, warn};

use crate::answer::Answer;
use crate::cookie::{clear_cookie, strip_edge_cookies, strip_edge_set_cookies, ELEVATED_COOKIE};
use crate::credentials::{is_websocket_upgrade, take_query_token, Presented};
use crate::gate::{Admission, Subject};
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

/// The fallback handler: admit, then forward.
pub async fn handle(State(state): State<std::sync::Arc<AppState>>, request: Request) -> Response {
    let Some(proxy) = state.proxy.clone() else {
        return Answer::not_found().into_response();
    };
    let (mut parts, body) = request.into_parts();
    let websocket = is_websocket_upgrade(&parts.method, &parts.headers);
    let raw_path = parts.uri.path().to_owned();
    let mut query = parts.uri.query().map(str::to_owned);
    let mut query_token = None;
    if websocket {
        if let Some(text) = &query {
            match take_query_token(text) {
                Ok((token, rest)) => {
                    query_token = token;
                    query = (!rest.is_empty()).then_some(rest);
                }
                Err(error) => return Answer::invalid_request(error.to_string()).into_response(),
            }
        }
    }
    let presented = Presented::read(&parts.headers, query_token);
    let subject = Subject {
        method: &parts.method,
        path: Some(&raw_path),
        headers: &parts.headers,
        uri: &parts.uri,
        presented: &presented,
        forged_identity: parts.extensions.get::<ForgedIdentity>().is_some(),
    };
    let admitted = match state.gate.admit(&state.policy, &subject).await {
        Ok(Admission::Public) => None,
        Ok(Admission::Admitted(admitted)) => Some(admitted),
        Err(answer) => {
            return refusal(
                answer,
                &parts.method,
                &parts.headers,
                parts.uri.path_and_query(),
            )
        }
    };

    let path_and_query = match &query {
        Some(query) => format!("{raw_path}?{query}"),
        None => raw_path.clone(),
    };
    let target = match proxy.target(&path_and_query) {
        Ok(target) => target,
        Err(_) => {
            return Answer::bad_request("the request target cannot be forwarded").into_response()
        }
    };
    let client_addr = parts.extensions.get::<ClientAddr>().copied();
    let on_client_upgrade = if websocket {
        parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
    } else {
        None
    };

    let mut headers = std::mem::take(&mut parts.headers);
    remove_hop_by_hop(&mut headers);
    strip_edge_cookies(&mut headers);
    set_forwarded(&state.policy, &mut headers, &parts.uri, client_addr);
    headers.remove(HOST);
    // A bearer is a credential for Tessera, not for the upstream: it goes on no route, public
    // or not, and whether or not it is the credential that admitted the request.
    if !state.policy.forward_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    let mut stale_elevated = false;
    if let Some(admitted) = &admitted {
        admitted.identity.write_headers(&mut headers);
        stale_elevated = admitted.stale_elevated;
    }
    if websocket {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    }

    let mut upstream_request = http::Request::new(body);
    *upstream_request.method_mut() = parts.method.clone();
    *upstream_request.uri_mut() = target;
    *upstream_request.version_mut() = Version::HTTP_11;
    *upstream_request.headers_mut() = headers;

    let mut response = match proxy.client.request(upstream_request).await {
        Ok(response) => response,
        Err(error) => {
            warn!(error = %error, upstream = %proxy.upstream, "upstream request failed");
            return Answer::bad_gateway(StatusCode::BAD_GATEWAY, "the upstream cannot be reached")
                .into_response();
        }
    };

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(on_client_upgrade) = on_client_upgrade else {
            return Answer::bad_gateway(
                StatusCode::BAD_GATEWAY,
                "the upstream switched protocols unasked",
            )
            .into_response();
        };
        let on_upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
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
        });
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
