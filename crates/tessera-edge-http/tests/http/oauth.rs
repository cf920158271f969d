//! The OAuth 2.0 endpoints (`crate::oauth` of the edge) on the real edge binary against the real
//! Tessera (embedded PostgreSQL), over real sockets. Each test says which promise it stands for.
//! Unmodified third-party resource servers (Apache mod_auth_openidc, …) are in
//! `oauth_counterparts`.

use std::time::Duration;

use base64::Engine as _;
use http::{Method, StatusCode};
use serde_json::json;
use tessera_proto::v1 as pb;

use crate::support::http_client::{get, request, send, Reply};
use crate::support::{start_private_tessera, tessera, Edge, PASSWORD};

/// `client_secret_basic` with the service token as the secret (the documented mapping).
pub fn basic(client_id: &str, secret: &str) -> String {
    let pair = format!("{client_id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `POST path` with a form body and an optional `Authorization`.
pub async fn post_form(edge: &Edge, path: &str, authorization: Option<&str>, form: &str) -> Reply {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(value) = authorization {
        headers.push(("authorization", value));
    }
    send(request(
        Method::POST,
        &edge.at(path),
        &headers,
        form.to_owned(),
    ))
    .await
}

/// Introspects `token` with the service token as HTTP Basic client secret.
pub async fn introspect(edge: &Edge, service: &str, token: &str) -> Reply {
    let form = format!("token={}&token_type_hint=access_token", urlencode(token));
    post_form(
        edge,
        "/oauth2/introspect",
        Some(&basic("rs", service)),
        &form,
    )
    .await
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn issue(request: pb::IssueTokenRequest) -> pb::IssueTokenResponse {
    let tessera = tessera();
    tessera.issue_as(&tessera.ready.admin_token, request).await
}

/// RFC 7662 §2.2 against Tessera's own Introspect: an active token's members say who and what,
/// and both caller methods (Basic, Bearer) work with the service token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_token_is_described_with_rfc_7662_members() {
    let tessera = tessera();
    let edge = Edge::start(&[]).await;
    let service = &tessera.ready.service_token;
    let session = tessera.login("alice", PASSWORD).await;

    let reply = introspect(&edge, service, &session).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["tessera_kind"], "session");
    assert_eq!(body["iss"], edge.url.as_str());
    let (iat, exp) = (body["iat"].as_i64().unwrap(), body["exp"].as_i64().unwrap());
    assert!(iat < exp && body["nbf"] == body["iat"], "{body}");
    // The same facts gRPC Introspect gives, by the edge's own service token.
    let grpc = tessera
        .client()
        .await
        .introspect(tessera_harness::authed(
            pb::IntrospectRequest {
                token: session.clone(),
                peek: true,
            },
            service,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body["sub"], grpc.subject.as_str());
    assert_eq!(body["jti"], grpc.token_id.as_str());
    assert_eq!(body["scope"], grpc.permissions.join(" ").as_str());
    assert_eq!(body["tessera_namespace"], grpc.namespace.as_str());

    let bearer = post_form(
        &edge,
        "/oauth2/introspect",
        Some(&format!("Bearer {service}")),
        &format!("token={session}"),
    )
    .await;
    assert_eq!(bearer.json()["sub"], grpc.subject.as_str());
    let posted = post_form(
        &edge,
        "/oauth2/introspect",
        None,
        &format!("client_id=rs&client_secret={service}&token={session}"),
    )
    .await;
    assert_eq!(posted.json()["jti"], grpc.token_id.as_str());
}

/// RFC 7662 §2.2: whatever is not active — unknown, malformed, revoked, used up — is exactly
/// `{"active": false}`, never a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_active_is_exactly_active_false() {
    let tessera = tessera();
    let edge = Edge::start(&[]).await;
    let service = &tessera.ready.service_token;
    for token in [
        "tsr_api_0000000000000000000000000000000000000000000000000",
        "not a token",
        "x",
    ] {
        let reply = introspect(&edge, service, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{token}");
        assert_eq!(reply.json(), json!({ "active": false }), "{token}");
    }

    // Revoked: refused on the very next check after Revoke returns (the edge's decision cache
    // follows the feed, and Revoke waits for its followers).
    let revoked = issue(pb::IssueTokenRequest {
        ttl: "1h".into(),
        ..Default::default()
    })
    .await
    .token;
    assert_eq!(
        introspect(&edge, service, &revoked).await.json()["active"],
        true
    );
    tessera.revoke(&revoked).await;
    assert_eq!(
        introspect(&edge, service, &revoked).await.json(),
        json!({ "active": false })
    );

    // A single-use token spends its use on the first HTTP introspection, as gRPC Introspect
    // without peek does.
    let once = issue(pb::IssueTokenRequest {
        ttl: "1h".into(),
        max_uses: 1,
        ..Default::default()
    })
    .await
    .token;
    let first = introspect(&edge, service, &once).await.json();
    assert_eq!(first["active"], true, "{first}");
    assert_eq!(first["tessera_uses_remaining"], 0, "{first}");
    assert_eq!(
        introspect(&edge, service, &once).await.json(),
        json!({ "active": false })
    );
}

/// RFC 6749 §5.2 for the caller: no credential, a bad one, one without `introspect` are 401
/// `invalid_client` with a challenge; a request without a token is 400 `invalid_request`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_vetted_and_requests_checked() {
    let tessera = tessera();
    let edge = Edge::start(&[]).await;
    let session = tessera.login("bob", PASSWORD).await;
    let form = format!("token={session}");
    // A session holds `*`; a token naming only `read` lacks `introspect`.
    let reader = issue(pb::IssueTokenRequest {
        ttl: "1h".into(),
        permissions: vec!["read".into()],
        ..Default::default()
    })
    .await
    .token;
    let no_introspect = basic("rs", &reader);
    let unknown = basic(
        "rs",
        "tsr_svc_0000000000000000000000000000000000000000000000000",
    );
    let wrong_scheme = format!("Bearer {reader}");
    for (what, authorization, challenge) in [
        ("no caller", None, "Basic"),
        (
            "caller without introspect",
            Some(no_introspect.as_str()),
            "Basic",
        ),
        ("unknown caller", Some(unknown.as_str()), "Basic"),
        (
            "bearer without introspect",
            Some(wrong_scheme.as_str()),
            "Bearer",
        ),
    ] {
        let reply = post_form(&edge, "/oauth2/introspect", authorization, &form).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            reply.text()
        );
        assert_eq!(reply.json()["error"], "invalid_client", "{what}");
        let header = reply.header("www-authenticate").unwrap_or_default();
        assert!(header.starts_with(challenge), "{what}: {header}");
    }
    let service = basic("rs", &tessera.ready.service_token);
    let missing = post_form(
        &edge,
        "/oauth2/introspect",
        Some(&service),
        "token_type_hint=x",
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["error"], "invalid_request");
    // The bound of the contract: a token over 4096 bytes is refused before Tessera is asked.
    let long = format!("token={}", "a".repeat(5000));
    let too_long = post_form(&edge, "/oauth2/introspect", Some(&service), &long).await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.text()
    );
}

/// RFC 7009 §2.2, field for field: 200 with an empty body for a revoked token and for an unknown
/// one; the holder revokes its own token (and its children) without client credentials, a
/// vetted client revokes a token it was handed; the next introspection says inactive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_answers_200_and_the_next_introspection_is_inactive() {
    let tessera = tessera();
    let edge = Edge::start(&[]).await;
    let service = &tessera.ready.service_token;

    let parent = tessera.login("erin", PASSWORD).await;
    let child = tessera.child_of(&parent).await;
    assert_eq!(
        introspect(&edge, service, &child).await.json()["active"],
        true
    );
    let reply = post_form(
        &edge,
        "/oauth2/revoke",
        None,
        &format!("token={parent}&token_type_hint=access_token"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.text(), "");
    for token in [&parent, &child] {
        assert_eq!(
            introspect(&edge, service, token).await.json(),
            json!({ "active": false })
        );
    }

    let handed = issue(pb::IssueTokenRequest {
        ttl: "1h".into(),
        ..Default::default()
    })
    .await
    .token;
    let by_client = post_form(
        &edge,
        "/oauth2/revoke",
        Some(&basic("rs", service)),
        &format!("token={handed}"),
    )
    .await;
    assert_eq!(by_client.status, StatusCode::OK);
    assert_eq!(
        introspect(&edge, service, &handed).await.json(),
        json!({ "active": false })
    );

    for unknown in [
        "tsr_api_0000000000000000000000000000000000000000000000000",
        "garbage",
    ] {
        let reply = post_form(&edge, "/oauth2/revoke", None, &format!("token={unknown}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{unknown}");
    }
    let missing = post_form(&edge, "/oauth2/revoke", None, "").await;
    assert_eq!(missing.json()["error"], "invalid_request");
}

/// RFC 8414 §3.2's example response, member for member where Tessera serves the endpoint, and
/// the JWKS document it points to is GetJwks's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_points_at_the_endpoints_and_the_jwks_is_tesseras() {
    let tessera = tessera();
    let edge = Edge::start(&["--public-url", "https://auth.example.com"]).await;
    let reply = get(&edge.at("/.well-known/oauth-authorization-server"), &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["issuer"], "https://auth.example.com");
    assert_eq!(
        body["introspection_endpoint"],
        "https://auth.example.com/oauth2/introspect"
    );
    assert_eq!(
        body["revocation_endpoint"],
        "https://auth.example.com/oauth2/revoke"
    );
    assert_eq!(
        body["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert!(body["introspection_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("client_secret_basic")));

    let jwks = get(&edge.at("/.well-known/jwks.json"), &[]).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let grpc = tessera
        .client()
        .await
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    let served = jwks.json();
    let keys = served["keys"].as_array().expect("keys");
    assert!(!keys.is_empty(), "{served}");
    assert_eq!(keys.len(), grpc.keys.len());
    for key in keys {
        assert_eq!(key["kty"], "OKP");
        assert!(
            grpc.keys.iter().any(|k| key["kid"] == k.kid.as_str()),
            "{key}"
        );
    }
}

/// Never "inactive" when Tessera cannot tell (ory/hydra-client-go#8): with PostgreSQL stopped,
/// an introspection is 503 with Retry-After, and a revocation is not claimed either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_is_503_never_inactive() {
    let private = start_private_tessera(&[]).expect("private tessera");
    let service = private.ready.service_token.clone();
    let metrics_listen = format!("127.0.0.1:{}", crate::support::closed_port());
    let edge = Edge::start_with(
        &private.uri(),
        &service,
        &["--metrics-listen", &metrics_listen],
    )
    .await
    .expect("edge");
    let session = private.ready.admin_token.clone();
    assert_eq!(
        introspect(&edge, &service, &session).await.json()["active"],
        true
    );
    let fresh = private.child_of(&session).await;

    stop_postgres(&private);
    let reply = introspect(&edge, &service, &fresh).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert!(reply.header("retry-after").is_some());
    assert!(reply.json().get("active").is_none(), "{}", reply.text());
    let revoke = post_form(&edge, "/oauth2/revoke", None, &format!("token={fresh}")).await;
    assert_eq!(
        revoke.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        revoke.text()
    );
    // The endpoints appear in the edge's metrics, by endpoint and outcome.
    let page = get(&format!("http://{metrics_listen}/metrics"), &[])
        .await
        .text();
    for series in [
        "tessera_edge_http_oauth_requests_total{endpoint=\"introspect\",outcome=\"active\"} 1",
        "tessera_edge_http_oauth_requests_total{endpoint=\"introspect\",outcome=\"unavailable\"} 1",
        "tessera_edge_http_oauth_requests_total{endpoint=\"revoke\",outcome=\"unavailable\"} 1",
    ] {
        assert!(page.contains(series), "{series} not in:\n{page}");
    }
}

/// Kills the embedded PostgreSQL of `tessera` (its `tessera dev` stays up, failing closed).
pub fn stop_postgres(tessera: &tessera_harness::DevServer) {
    let cluster = std::fs::read_to_string(tessera.data_path().join("cluster-location"))
        .map(|text| std::path::PathBuf::from(text.trim()))
        .unwrap_or_else(|_| tessera.data_path());
    let pid: i32 = std::fs::read_to_string(cluster.join("pgdata/postmaster.pid"))
        .expect("postmaster.pid")
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .expect("postmaster pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill postgres");
    tessera
        .wait_for_log("the embedded PostgreSQL", Duration::from_secs(30))
        .expect("tessera dev noticed");
}
