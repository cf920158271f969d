//! Router + oneshot tests of everything the edge decides without Tessera's answer. Tessera and
//! the upstream are closed ports here: whatever needs them fails closed (503) or 502.

use std::time::Duration;

use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, ORIGIN, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::authority::HttpAuthority;
use crate::config::Secret;
use crate::gate::Gate;
use crate::policy::Policy;
use crate::proxy::Proxy;
use crate::routes::{NamespaceRules, PublicRoutes};

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn app_with(insecure_dev_http: bool) -> Router {
    let authority = HttpAuthority::new(
        tessera_client::Client::builder()
            .address(format!("http://127.0.0.1:{}", closed_port()))
            .token(Secret::new("tsr_svc_test".to_owned()))
            .deadline(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let upstream = format!("http://127.0.0.1:{}", closed_port())
        .parse()
        .unwrap();
    let state = AppState {
        gate: Gate {
            authority,
            public: PublicRoutes::parse(&["/open/".to_owned()]).unwrap(),
            rules: NamespaceRules::parse(&["/jobs/{id}".to_owned()]).unwrap(),
            metrics: crate::metrics::EdgeMetrics::default(),
        },
        policy: Policy {
            trust_proxy: false,
            tls: false,
            insecure_dev_http,
            allowed_origins: Vec::new(),
            forward_authorization: false,
            max_json_bytes: 1024,
            front_proxy: crate::policy::FrontProxy::Auto,
            ext_authz_callers: crate::policy::ExtAuthzCallers::Token,
            public_url: None,
        },
        proxy: Some(Proxy::new(upstream, Duration::from_secs(2))),
        max_header_bytes: 4096,
    };
    router(Arc::new(state))
}

fn app() -> Router {
    app_with(false)
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> http::request::Builder {
    Request::builder().uri(uri).header("host", "edge.local")
}

#[tokio::test]
async fn ping_is_public_and_needs_nobody() {
    let (status, _, body) = send(
        app(),
        get("/api/v1/public/ping").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"ok\""));
}

#[tokio::test]
async fn missing_token_is_401_with_a_bearer_challenge() {
    let (status, headers, body) = send(app(), get("/private").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    assert!(body.contains("invalid_token"));
}

#[tokio::test]
async fn browsers_get_a_page_linking_to_login() {
    let request = get("/private?x=1")
        .header("accept", "text/html")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(app(), request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key(WWW_AUTHENTICATE));
    assert!(body.contains("/login?next=%2Fprivate%3Fx%3D1"), "{body}");
}

#[tokio::test]
async fn malformed_bearer_is_400_invalid_request() {
    for value in ["Bearer", "Bearer a b", "Bearer  a"] {
        let request = get("/private")
            .header(AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = send(app(), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
        assert!(headers[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_request"));
    }
}

#[tokio::test]
async fn malformed_cookies_are_400() {
    for value in [
        "__Host-tessera_session=a; __Host-tessera_session=b",
        "__Host-tessera_session=a\\b",
    ] {
        let request = get("/private")
            .header(COOKIE, value)
            .body(Body::empty())
            .unwrap();
        let (status, _, _) = send(app(), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    }
}

#[tokio::test]
async fn ambiguous_paths_are_400_even_under_a_public_prefix() {
    for path in [
        "/open/../private",
        "/open/%2e%2e/private",
        "/open/..%2fprivate",
    ] {
        let (status, _, _) = send(app(), get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn public_routes_pass_the_gate_without_a_token() {
    // The upstream is a closed port: passing the gate shows as 502, not 401.
    let (status, _, body) = send(app(), get("/open/page").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    // A public route does not look at credentials, even malformed ones.
    let request = get("/open/page")
        .header(AUTHORIZATION, "Bearer a b")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app(), request).await.0, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn tessera_unreachable_fails_closed_with_503() {
    let request = get("/private")
        .header(AUTHORIZATION, "Bearer tsr_api_whatever")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(app(), request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers["retry-after"], "1");
    let verify = get("/auth/verify")
        .header(AUTHORIZATION, "Bearer tsr_api_whatever")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app(), verify).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn oversized_heads_are_431() {
    let request = get("/private")
        .header("x-big", "a".repeat(5000))
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(app(), request).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn cookie_state_changes_from_elsewhere_are_refused_before_tessera_is_asked() {
    let request = Request::post("/private")
        .header("host", "edge.local")
        .header(COOKIE, "__Host-tessera_session=tsr_ses_x")
        .header(ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app(), request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("cross_origin"));
    let no_origin = Request::post("/auth/tokens")
        .header("host", "edge.local")
        .header(COOKIE, "__Host-tessera_session=tsr_ses_x")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(app(), no_origin).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn session_login_over_plain_http_is_refused_without_the_dev_flag() {
    let login = || {
        Request::post("/api/auth/session/login")
            .header("host", "edge.local")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"username":"a","password":"b"}"#))
            .unwrap()
    };
    let (status, _, body) = send(app(), login()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("https_required"));
    // With the flag the request reaches Tessera, here a closed port.
    assert_eq!(
        send(app_with(true), login()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn json_endpoints_want_json_of_bounded_size() {
    let form = Request::post("/api/auth/session/login")
        .header("host", "edge.local")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=a&password=b"))
        .unwrap();
    assert_eq!(
        send(app_with(true), form).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let big = Request::post("/api/auth/session/login")
        .header("host", "edge.local")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"username":"{}","password":"b"}}"#,
            "a".repeat(2000)
        )))
        .unwrap();
    assert_eq!(
        send(app_with(true), big).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let broken = Request::post("/api/auth/session/login")
        .header("host", "edge.local")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"username":"a","password":"hunter2","extra":1}"#,
        ))
        .unwrap();
    let (status, _, body) = send(app_with(true), broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("extra") && !body.contains("hunter2"),
        "{body}"
    );
}

#[tokio::test]
async fn issuing_a_token_checks_its_input_before_tessera() {
    let request = Request::post("/auth/tokens")
        .header("host", "edge.local")
        .header(AUTHORIZATION, "Bearer tsr_ses_x")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"remove_on_use":true,"max_uses":3}"#))
        .unwrap();
    let (status, _, body) = send(app(), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let anonymous = Request::post("/auth/tokens")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(app(), anonymous).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_login_page_is_a_locked_down_form() {
    let (status, headers, body) = send(
        app(),
        get("/login?next=/private").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(body.contains("name=\"totp_code\"") && body.contains("value=\"/private\""));
    assert!(
        body.contains("needs HTTPS"),
        "plain HTTP is flagged on the page"
    );
}

#[tokio::test]
async fn status_without_a_session_says_so() {
    let (status, _, body) = send(
        app(),
        get("/api/auth/session/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"authenticated\":false"));
    let (status, _, body) = send(
        app(),
        get("/api/auth/root/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"elevated\":false"));
}

#[tokio::test]
async fn logout_without_a_session_clears_cookies() {
    let request = Request::post("/api/auth/session/logout")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(app(), request).await;
    assert_eq!(status, StatusCode::OK);
    let cleared: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cleared.len(), 2);
    assert!(cleared
        .iter()
        .all(|c| c.to_str().unwrap().contains("Max-Age=0")));
}

#[tokio::test]
async fn lower_case_extension_methods_are_400_before_anything_else() {
    let request = get("/open/x")
        .method(Method::from_bytes(b"propfind").unwrap())
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app(), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not canonical"), "{body}");
}

#[tokio::test]
async fn underscore_identity_headers_are_400_on_protected_routes_before_tessera_is_asked() {
    // Tessera is a closed port here: asking it would be 503.
    let request = get("/private")
        .header(AUTHORIZATION, "Bearer tsr_api_x")
        .header("x_tessera_username", "root")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app(), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("x-tessera-"), "{body}");
}
