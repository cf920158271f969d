//! `/auth/verify`: the forward-auth endpoint for nginx `auth_request`, Caddy `forward_auth` and
//! Traefik `ForwardAuth`.
//!
//! The proxy in front copies the client's headers (Authorization, Cookie, Origin…) onto this
//! subrequest and says what the original request was in `X-Forwarded-Method` and
//! `X-Forwarded-Uri` (Caddy and Traefik do this themselves; with nginx set them, or
//! `X-Original-Method` / `X-Original-URI`, in the auth location). The answer is 200 with the
//! identity headers for the proxy to copy upstream (all of them empty on a public route), or the
//! same 400/401/403/503 the reverse proxy would give.
//!
//! Any method is accepted, since proxies differ in what they send. A client reaching this endpoint
//! directly learns only whether its own token is good.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::answer::Answer;
use crate::app::AppState;
use crate::credentials::{is_websocket_upgrade, take_query_token, Presented};
use crate::gate::{Admission, Subject};
use crate::identity::IDENTITY_HEADERS;

fn forwarded<'h>(headers: &'h HeaderMap, names: [&str; 2]) -> Result<Option<&'h str>, Answer> {
    for name in names {
        if let Some(value) = headers.get(name) {
            return value
                .to_str()
                .map(Some)
                .map_err(|_| Answer::bad_request(format!("{name} is not text")));
        }
    }
    Ok(None)
}

/// The original request's method and path-with-query, as the proxy describes it.
fn original(headers: &HeaderMap, own_method: &Method) -> Result<(Method, Option<String>), Answer> {
    let method = match forwarded(headers, ["x-forwarded-method", "x-original-method"])? {
        Some(text) => Method::from_bytes(text.trim().as_bytes())
            .map_err(|_| Answer::bad_request("x-forwarded-method is not a method"))?,
        None => own_method.clone(),
    };
    let target = forwarded(headers, ["x-forwarded-uri", "x-original-uri"])?
        .map(|text| text.trim().to_owned());
    if let Some(target) = &target {
        if !target.starts_with('/') {
            return Err(Answer::bad_request("x-forwarded-uri must be a path"));
        }
    }
    Ok((method, target))
}

/// `/auth/verify`.
pub async fn verify(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let (method, target) = match original(&parts.headers, &parts.method) {
        Ok(original) => original,
        Err(answer) => return answer.into_response(),
    };
    let (path, query) = match &target {
        Some(target) => match target.split_once('?') {
            Some((path, query)) => (Some(path), Some(query)),
            None => (Some(target.as_str()), None),
        },
        None => (None, None),
    };
    let mut query_token = None;
    if is_websocket_upgrade(&method, &parts.headers) {
        if let Some(query) = query {
            match take_query_token(query) {
                Ok((token, _)) => query_token = token,
                Err(error) => return Answer::invalid_request(error.to_string()).into_response(),
            }
        }
    }
    let presented = Presented::read(&parts.headers, query_token);
    let subject = Subject {
        method: &method,
        path,
        headers: &parts.headers,
        uri: &parts.uri,
        presented: &presented,
    };
    match state.gate.admit(&state.policy, &subject).await {
        Ok(admission) => {
            let mut response = StatusCode::OK.into_response();
            let headers = response.headers_mut();
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            match admission {
                Admission::Admitted(admitted) => admitted.identity.write_headers(headers),
                // Every identity header, empty: a proxy that copies a header the answer lacks
                // may invent a value (Caddy before 2.9 sends its unexpanded placeholder,
                // `{http.reverse_proxy.header.X-Tessera-Username}`, upstream).
                Admission::Public => {
                    for name in IDENTITY_HEADERS {
                        headers.insert(name, HeaderValue::from_static(""));
                    }
                }
            }
            response
        }
        Err(answer) => answer.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn original_request_comes_from_forwarded_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-method", HeaderValue::from_static("POST"));
        headers.insert("x-forwarded-uri", HeaderValue::from_static("/jobs/a?x=1"));
        let (method, target) = original(&headers, &Method::GET).unwrap();
        assert_eq!(method, Method::POST);
        assert_eq!(target.as_deref(), Some("/jobs/a?x=1"));
    }

    #[test]
    fn nginx_style_names_work_and_absent_means_the_request_itself() {
        let mut headers = HeaderMap::new();
        headers.insert("x-original-uri", HeaderValue::from_static("/x"));
        let (method, target) = original(&headers, &Method::GET).unwrap();
        assert_eq!((method, target.as_deref()), (Method::GET, Some("/x")));
        let (method, target) = original(&HeaderMap::new(), &Method::HEAD).unwrap();
        assert_eq!((method, target), (Method::HEAD, None));
    }

    #[test]
    fn nonsense_originals_are_400() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-uri", HeaderValue::from_static("http://evil/x"));
        assert!(original(&headers, &Method::GET).is_err());
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-method", HeaderValue::from_static("G E T"));
        assert!(original(&headers, &Method::GET).is_err());
    }
}
