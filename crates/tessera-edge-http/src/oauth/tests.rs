//! What the OAuth endpoints decide without Tessera's answer: the form and credential grammar,
//! the JSON shapes, and failing closed. Tessera is a closed port here, so whatever needs it must
//! answer 503, never `active: false`. The answers from a real Tessera are in
//! `tests/http/oauth.rs`.

use std::time::Duration;

use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::config::Secret;
use crate::gate::Gate;
use crate::policy::{FrontProxy, Origin, Policy};
use crate::routes::{NamespaceRules, PublicRoutes};
use tessera_proto::bounds;

const FORM: &str = "application/x-www-form-urlencoded";

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn app(public_url: Option<&str>) -> Router {
    let authority = HttpAuthority::new(
        tessera_client::Client::builder()
            .address(format!("http://127.0.0.1:{}", closed_port()))
            .token(Secret::new("tsr_svc_test".to_owned()))
            .deadline(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let state = AppState {
        gate: Gate {
            authority,
            public: PublicRoutes::parse(&[]).unwrap(),
            rules: NamespaceRules::parse(&[]).unwrap(),
            metrics: crate::metrics::EdgeMetrics::default(),
        },
        policy: Policy {
            trust_proxy: false,
            tls: false,
            insecure_dev_http: false,
            allowed_origins: Vec::new(),
            forward_authorization: false,
            max_json_bytes: 1024,
            front_proxy: FrontProxy::Auto,
            ext_authz_callers: crate::policy::ExtAuthzCallers::Token,
            public_url: public_url.map(|url| Origin::parse(url).unwrap()),
        },
        proxy: None,
        max_header_bytes: 8192,
    };
    crate::app::router(Arc::new(state))
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, headers, json)
}

fn post(path: &str, authorization: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post(path)
        .header("host", "edge.local")
        .header(CONTENT_TYPE, FORM);
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

fn refusal_kind(result: Result<Option<ClientCredential>, OauthRefusal>) -> &'static str {
    match result {
        Ok(Some(_)) => "credential",
        Ok(None) => "none",
        Err(refusal) => refusal.outcome(),
    }
}

#[test]
fn the_form_reads_token_and_client_secret_and_refuses_repeats() {
    let form = parse_form(b"token=tsr_api_x&token_type_hint=access_token&extra=1").unwrap();
    assert_eq!(form.token.as_deref(), Some("tsr_api_x"));
    assert!(form.client_secret.is_none());
    // RFC 6749 §3.2: a member must not appear twice; which one would Tessera have judged?
    assert!(parse_form(b"token=a&token=b").is_err());
    assert!(parse_form(b"client_secret=a&client_secret=b").is_err());
    let long = format!("token={}", "a".repeat(bounds::TOKEN + 1));
    assert!(parse_form(long.as_bytes()).is_err());
    let percent = parse_form(b"token=tsr%5Fapi%5Fx").unwrap();
    assert_eq!(percent.token.as_deref(), Some("tsr_api_x"));
}

#[test]
fn the_client_secret_is_the_service_token_however_it_is_presented() {
    let no_form = EndpointForm::default();
    let mut headers = HeaderMap::new();
    // client_secret_basic: both halves form-urlencoded before base64 (RFC 6749 §2.3.1).
    headers.insert(
        AUTHORIZATION,
        basic("my%20resource+server", "tsr%5Fsvc_abc")
            .parse()
            .unwrap(),
    );
    let basic = client_credential(&headers, &no_form).unwrap().unwrap();
    assert_eq!(basic.token.expose(), "tsr_svc_abc");
    assert_eq!(basic.auth, ClientAuth::Basic);

    headers.insert(AUTHORIZATION, "bearer tsr_svc_abc".parse().unwrap());
    let bearer = client_credential(&headers, &no_form).unwrap().unwrap();
    assert_eq!(
        (bearer.token.expose(), bearer.auth),
        ("tsr_svc_abc", ClientAuth::Bearer)
    );

    let post = parse_form(b"client_id=rs&client_secret=tsr_svc_abc").unwrap();
    let posted = client_credential(&HeaderMap::new(), &post)
        .unwrap()
        .unwrap();
    assert_eq!(
        (posted.token.expose(), posted.auth),
        ("tsr_svc_abc", ClientAuth::Post)
    );

    assert_eq!(
        refusal_kind(client_credential(&HeaderMap::new(), &no_form)),
        "none"
    );
}

#[test]
fn ambiguous_or_malformed_client_credentials_are_refused() {
    let no_form = EndpointForm::default();
    let post = parse_form(b"client_secret=tsr_svc_abc").unwrap();
    let with = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    };
    // Two methods at once (RFC 6749 §2.3).
    assert_eq!(
        refusal_kind(client_credential(&with("Bearer tsr_a"), &post)),
        "invalid_request"
    );
    let mut twice = with("Bearer tsr_a");
    twice.append(AUTHORIZATION, "Bearer tsr_b".parse().unwrap());
    assert_eq!(
        refusal_kind(client_credential(&twice, &no_form)),
        "invalid_request"
    );
    for value in [
        "Digest x",
        "Basic !!!",
        "Basic dG9rZW4=", // "token": no colon
        "Bearer",
        "Bearer tsr a",
        &basic("id", ""),
        &basic("id", "tsr\"x"),
    ] {
        assert_eq!(
            refusal_kind(client_credential(&with(value), &no_form)),
            "invalid_client",
            "{value}"
        );
    }
}

#[test]
fn an_inactive_answer_is_exactly_active_false() {
    let revoked = Introspection {
        active: false,
        token_id: "leaked-if-printed".into(),
        username: "alice".into(),
        ..Introspection::default()
    };
    assert_eq!(
        introspection_json(&revoked, Some("https://a")),
        json!({ "active": false })
    );
}

#[test]
fn an_active_answer_carries_rfc_7662_members_and_tessera_extensions() {
    let issued = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let answer = Introspection {
        active: true,
        token_id: "4f1c".into(),
        kind: Some(tessera_rules::token::TokenKind::Api),
        subject: "9d2e".into(),
        username: "alice".into(),
        roles: vec!["user".into()],
        permissions: vec!["read".into(), "write".into()],
        namespace: "deploy.".into(),
        issued_at: Some(issued),
        expires_at: Some(issued + time::Duration::hours(1)),
        elevated: false,
        uses_remaining: Some(3),
        session_id: "77aa".into(),
    };
    assert_eq!(
        introspection_json(&answer, Some("https://auth.example.com")),
        json!({
            "active": true,
            "scope": "read write",
            "client_id": "77aa",
            "username": "alice",
            "sub": "9d2e",
            "iss": "https://auth.example.com",
            "exp": 1_700_003_600,
            "iat": 1_700_000_000,
            "nbf": 1_700_000_000,
            "jti": "4f1c",
            "token_type": "Bearer",
            "tessera_namespace": "deploy.",
            "tessera_elevated": false,
            "tessera_uses_remaining": 3,
            "tessera_kind": "api",
            "tessera_roles": ["user"],
        })
    );
    // A token acting for no account (the master token) has no sub or username; an unlimited one
    // no uses.
    let master = Introspection {
        active: true,
        token_id: "1".into(),
        ..Introspection::default()
    };
    let body = introspection_json(&master, None);
    for absent in [
        "sub",
        "username",
        "client_id",
        "iss",
        "exp",
        "tessera_uses_remaining",
    ] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
}

/// RFC 8414 §3.2's example response, member for member where Tessera has the endpoint; the members
/// of endpoints Tessera does not serve (authorization, token, registration) are absent.
#[test]
fn metadata_has_the_rfc_8414_members() {
    let body = metadata_json("https://server.example.com");
    assert_eq!(body["issuer"], "https://server.example.com");
    assert_eq!(
        body["introspection_endpoint"],
        "https://server.example.com/oauth2/introspect"
    );
    assert_eq!(
        body["revocation_endpoint"],
        "https://server.example.com/oauth2/revoke"
    );
    assert_eq!(
        body["jwks_uri"],
        "https://server.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        body["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert!(body["response_types_supported"].is_array());
    for absent in [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
}

#[tokio::test]
async fn introspection_without_a_client_is_401_invalid_client_before_tessera_is_asked() {
    let (status, headers, body) =
        send(app(None), post(INTROSPECT_PATH, None, "token=tsr_api_x")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(headers[WWW_AUTHENTICATE], "Basic realm=\"tessera\"");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn introspection_fails_closed_when_tessera_is_unreachable() {
    for authorization in [
        basic("rs", "tsr_svc_caller"),
        "Bearer tsr_svc_caller".to_owned(),
    ] {
        let request = post(INTROSPECT_PATH, Some(&authorization), "token=tsr_api_x");
        let (status, headers, body) = send(app(None), request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(headers.contains_key(http::header::RETRY_AFTER));
        assert!(body.get("active").is_none(), "{body}");
    }
}

#[tokio::test]
async fn an_introspection_that_is_no_form_is_400() {
    let request = Request::post(INTROSPECT_PATH)
        .header("host", "edge.local")
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, "Bearer tsr_svc_caller")
        .body(Body::from("{\"token\":\"x\"}"))
        .unwrap();
    let (status, _, body) = send(app(None), request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let big = format!("token={}", "a".repeat(2000));
    let (status, _, _) = send(app(None), post(INTROSPECT_PATH, None, &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn revocation_of_a_malformed_token_is_200_and_of_a_real_one_waits_for_tessera() {
    let (status, _, _) = send(app(None), post(REVOKE_PATH, None, "token=not%20a%20token")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = send(app(None), post(REVOKE_PATH, None, "")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // Tessera unreachable: the revocation may not have happened, so never 200.
    let (status, headers, _) = send(app(None), post(REVOKE_PATH, None, "token=tsr_api_x")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key(http::header::RETRY_AFTER));
}

#[tokio::test]
async fn the_issuer_is_the_public_url_or_the_requests_own_origin() {
    let get = |uri: &str| {
        Request::get(uri)
            .header("host", "edge.local:8080")
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(app(None), get(METADATA_PATH)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["issuer"], "http://edge.local:8080");
    assert_eq!(
        body["introspection_endpoint"],
        "http://edge.local:8080/oauth2/introspect"
    );
    let (_, _, body) = send(app(Some("https://auth.example.com")), get(METADATA_PATH)).await;
    assert_eq!(body["issuer"], "https://auth.example.com");
    let (status, _, _) = send(app(None), get(JWKS_PATH)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
