//! The edge binary against the real Tessera and a real upstream, over real sockets: which tokens
//! pass, what the upstream sees, WebSockets, streaming, namespace rules, failing closed, and the
//! start-up check of the service token.

use std::time::Duration;

use crate::support::forwarder::Forwarder;
use crate::support::http_client::{get, get_with_token, request, send};
use crate::support::{closed_port, eventually, tessera, upstream, Edge};
use axum::body::{Body, Bytes};
use futures::{SinkExt, StreamExt};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tessera_proto::v1 as pb;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_tokens_pass_and_missing_bad_expired_revoked_used_up_do_not() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--upstream", &upstream.url()]).await;
    let url = edge.at("/things?x=1");

    let valid = tessera.token().await;
    let reply = get_with_token(&url, &valid).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["path"], "/things");
    assert_eq!(reply.json()["query"], "x=1");

    let missing = get(&url, &[]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    let challenge = missing.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );

    for bad in [
        "tsr_api_notarealtoken",
        "tsr_api_0000000000000000000000000000000000000000000000000",
        "x",
    ] {
        let reply = get_with_token(&url, bad).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{bad}: {}",
            reply.text()
        );
        assert!(reply
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("invalid_token"));
    }

    let revoked = tessera.token().await;
    assert_eq!(get_with_token(&url, &revoked).await.status, StatusCode::OK);
    tessera.revoke(&revoked).await;
    // The answer above may be in the decision cache: the revocation reaches it through the feed,
    // within the bound the line edge's revocation test allows too.
    eventually(
        Duration::from_secs(10),
        "the revoked token refused",
        || async { get_with_token(&url, &revoked).await.status == StatusCode::UNAUTHORIZED },
    )
    .await;

    let twice = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            max_uses: 2,
            ..Default::default()
        })
        .await;
    assert_eq!(get_with_token(&url, &twice).await.status, StatusCode::OK);
    assert_eq!(get_with_token(&url, &twice).await.status, StatusCode::OK);
    let used_up = get_with_token(&url, &twice).await;
    assert_eq!(used_up.status, StatusCode::UNAUTHORIZED);
    assert!(used_up
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("invalid_token"));

    let short = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "3s".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(get_with_token(&url, &short).await.status, StatusCode::OK);
    eventually(
        Duration::from_secs(15),
        "the 3s token to expire",
        || async {
            let reply = get_with_token(&url, &short).await;
            assert!(
                matches!(reply.status, StatusCode::OK | StatusCode::UNAUTHORIZED),
                "{}",
                reply.status
            );
            reply.status == StatusCode::UNAUTHORIZED
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_token_passes_exactly_once_even_when_raced() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--upstream", &upstream.url()]).await;
    for round in 0..3 {
        let once = tessera
            .issue(pb::IssueTokenRequest {
                ttl: "1h".into(),
                max_uses: 1,
                ..Default::default()
            })
            .await;
        let attempts = (0..12).map(|_| {
            let url = edge.at("/race");
            let once = once.clone();
            tokio::spawn(async move { get_with_token(&url, &once).await.status })
        });
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.expect("attempt"));
        }
        let passed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        assert_eq!((passed, refused), (1, 11), "round {round}: {statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_arrive_and_spoofed_ones_never_do() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--upstream", &upstream.url(), "--public-route", "/open/"]).await;
    let alice = tessera.login("alice", crate::support::PASSWORD).await;
    let spoofed = [
        ("x-tessera-username", "root"),
        ("X-Tessera-Roles", "admin,owner"),
        ("X-TESSERA-SUBJECT", "00000000-0000-0000-0000-000000000000"),
        ("x-tessera-namespace", "*"),
        ("x-tessera-token-id", "forged"),
        ("x-tessera-elevated", "true"),
        ("x-tessera-extra", "anything"),
    ];
    let auth = bearer(&alice);
    let mut headers: Vec<(&str, &str)> = spoofed.to_vec();
    headers.push(("authorization", &auth));
    headers.push(("cookie", "app=1; __Host-tessera_session=tsr_ses_planted"));
    let reply = get(&edge.at("/who"), &headers).await;
    // A planted (syntactically fine) session cookie loses to the bearer, which comes first.
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.echoed("x-tessera-username"), vec!["alice"]);
    assert_eq!(reply.echoed("x-tessera-roles"), vec!["user"]);
    assert_eq!(reply.echoed("x-tessera-elevated"), vec!["false"]);
    let subject = reply.echoed("x-tessera-subject");
    assert_eq!(subject.len(), 1);
    assert_ne!(subject[0], "00000000-0000-0000-0000-000000000000");
    assert!(!subject[0].is_empty());
    assert_eq!(reply.echoed("x-tessera-namespace").len(), 1);
    assert_ne!(reply.echoed("x-tessera-token-id"), vec!["forged"]);
    assert!(reply.echoed("x-tessera-extra").is_empty());
    assert!(
        reply.echoed("authorization").is_empty(),
        "the bearer is not forwarded"
    );
    assert_eq!(
        reply.echoed("cookie"),
        vec!["app=1"],
        "the edge's cookies are not forwarded"
    );
    assert_eq!(reply.echoed("x-forwarded-proto"), vec!["http"]);

    let public = get(&edge.at("/open/page"), &spoofed).await;
    assert_eq!(public.status, StatusCode::OK);
    let forwarded: Vec<String> = public.json()["headers"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| name.starts_with("x-tessera-"))
        .cloned()
        .collect();
    assert!(
        forwarded.is_empty(),
        "spoofed headers reached a public route: {forwarded:?}"
    );

    let ping = get(&edge.at("/api/v1/public/ping"), &[]).await;
    assert_eq!(ping.status, StatusCode::OK);
    assert_eq!(ping.json()["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_query_token_works_and_is_not_forwarded() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--upstream", &upstream.url()]).await;
    let token = tessera.token().await;
    let ws_url = format!(
        "ws://{}/ws?room=7&access_token={token}&mode=echo",
        edge.addr
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("websocket through the edge");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let hello = match socket.next().await.expect("hello").expect("hello frame") {
        Message::Text(text) => serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        hello["query"], "room=7&mode=echo",
        "access_token must not reach the upstream"
    );
    assert_eq!(
        hello["headers"]["x-tessera-token-id"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(
        !hello.to_string().contains(&token),
        "the token leaked upstream"
    );
    for text in ["ping", "second message"] {
        socket.send(Message::Text(text.into())).await.unwrap();
        match socket.next().await.expect("echo").expect("echo frame") {
            Message::Text(echo) => assert_eq!(echo.as_str(), text),
            other => panic!("unexpected {other:?}"),
        }
    }
    socket.close(None).await.ok();

    // Without a token, or with a bad one, the handshake is refused.
    for url in [
        format!("ws://{}/ws", edge.addr),
        format!("ws://{}/ws?access_token=tsr_api_bogus", edge.addr),
    ] {
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED)
            }
            other => panic!("{url} should be refused, got {other:?}"),
        }
    }
    // A query token on a plain request is not a credential.
    let plain = get(&edge.at(&format!("/x?access_token={token}")), &[]).await;
    assert_eq!(plain.status, StatusCode::UNAUTHORIZED);

    // The header credential works for WebSockets too.
    let mut request = format!("ws://{}/ws", edge.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", bearer(&token).parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("bearer websocket");
    assert!(socket.next().await.is_some());
}

/// The identity the upstream's WebSocket hello reports, or the refusal's status.
async fn websocket_identity(
    addr: std::net::SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<serde_json::Value, StatusCode> {
    let mut request = format!("ws://{addr}/ws{query}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => {
            let hello = match socket.next().await.expect("hello").expect("hello frame") {
                Message::Text(text) => serde_json::from_str(&text).unwrap(),
                other => panic!("unexpected {other:?}"),
            };
            socket.close(None).await.ok();
            Ok(hello)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status()),
        Err(other) => panic!("websocket through the edge: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_taken_in_order_bearer_then_cookie_then_websocket_query() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--upstream", &upstream.url()]).await;
    let alice = tessera.login("alice", crate::support::PASSWORD).await;
    let bob = tessera.login("bob", crate::support::PASSWORD).await;
    let alice_bearer = bearer(&alice);
    let bob_cookie = format!("__Host-tessera_session={bob}");
    let url = edge.at("/order");

    // Bearer first: it wins over a good cookie.
    let reply = get(
        &url,
        &[("authorization", &alice_bearer), ("cookie", &bob_cookie)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.echoed("x-tessera-username"), vec!["alice"]);
    // Only the first credential present counts: a bad bearer does not fall back to the cookie.
    let reply = get(
        &url,
        &[
            ("authorization", "Bearer tsr_api_notarealtoken"),
            ("cookie", &bob_cookie),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    // The cookie alone.
    let reply = get(&url, &[("cookie", &bob_cookie)]).await;
    assert_eq!(reply.echoed("x-tessera-username"), vec!["bob"]);

    // On a WebSocket upgrade the cookie wins over the query token, which is removed either way.
    let query = format!("?access_token={alice}&room=1");
    let hello = websocket_identity(edge.addr, &query, &[("cookie", &bob_cookie)])
        .await
        .expect("cookie websocket");
    assert_eq!(hello["headers"]["x-tessera-username"][0], "bob");
    assert_eq!(hello["query"], "room=1");
    let hello = websocket_identity(edge.addr, &query, &[("authorization", &alice_bearer)])
        .await
        .expect("bearer websocket");
    assert_eq!(hello["headers"]["x-tessera-username"][0], "alice");
    let hello = websocket_identity(edge.addr, &query, &[])
        .await
        .expect("query websocket");
    assert_eq!(hello["headers"]["x-tessera-username"][0], "alice");
    assert_eq!(hello["query"], "room=1");
    assert!(hello["headers"]["authorization"].is_null());
    assert!(hello["headers"]["cookie"].is_null());
    // The query token is a credential on upgrades only: a plain request with it is refused.
    assert_eq!(
        get(&edge.at(&format!("/order{query}")), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A WebSocket handshake is one request: one use of a limited-use query token.
    let once = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            max_uses: 1,
            ..Default::default()
        })
        .await;
    let query = format!("?access_token={once}");
    assert!(websocket_identity(edge.addr, &query, &[]).await.is_ok());
    assert_eq!(
        websocket_identity(edge.addr, &query, &[]).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--upstream", &upstream.url()]).await;
    let token = tessera.token().await;
    let auth = bearer(&token);

    // Download: the first chunk arrives while the upstream still holds the second.
    let response_request = request(
        Method::GET,
        &edge.at("/slow"),
        &[("authorization", &auth)],
        Body::empty(),
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(response_request))
        .await
        .expect("response head in time")
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let first = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("first chunk before the upstream finished")
        .expect("chunk")
        .expect("data");
    assert_eq!(&first[..], b"first\n");
    upstream.probes.release_slow.notify_one();
    let second = body.next().await.expect("chunk").expect("data");
    assert_eq!(&second[..], b"second\n");

    // Upload: the upstream sees the first chunk while the client still holds the rest.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = tokio_stream_from(receiver);
    let upload = request(
        Method::POST,
        &edge.at("/upload"),
        &[("authorization", &auth)],
        Body::from_stream(stream),
    );
    let exchange = tokio::spawn(send(upload));
    sender
        .send(Ok(Bytes::from(vec![b'a'; 64 * 1024])))
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        upstream.probes.upload_started.notified(),
    )
    .await
    .expect("upstream got the first chunk before the body ended");
    for _ in 0..63 {
        sender
            .send(Ok(Bytes::from(vec![b'b'; 64 * 1024])))
            .await
            .unwrap();
    }
    drop(sender);
    let reply = exchange.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["bytes"], 64 * 64 * 1024);
}

fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_rules_check_the_named_segment_without_spending_uses() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&[
        "--upstream",
        &upstream.url(),
        "--namespace-rule",
        "/jobs/{id}",
        "--public-route",
        "/jobs/public/",
    ])
    .await;
    let deploy = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            namespace: "deploy.".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        get_with_token(&edge.at("/jobs/deploy.daily"), &deploy)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token(&edge.at("/jobs/deploy.daily/logs"), &deploy)
            .await
            .status,
        StatusCode::OK
    );
    for outside in [
        "/jobs/backup.x",
        "/JOBS/backup.x/logs",
        "/jobs/deploy",
        "/j%6Fbs/backup.x",
    ] {
        let reply = get_with_token(&edge.at(outside), &deploy).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{outside}: {}",
            reply.text()
        );
        assert!(reply
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("insufficient_scope"));
    }
    // Outside the rules, the namespace is not consulted.
    assert_eq!(
        get_with_token(&edge.at("/other/backup.x"), &deploy)
            .await
            .status,
        StatusCode::OK
    );

    // A denied request does not spend a use of a single-use token.
    let once = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            max_uses: 1,
            namespace: "deploy.".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        get_with_token(&edge.at("/jobs/backup.x"), &once)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_with_token(&edge.at("/jobs/deploy.x"), &once)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token(&edge.at("/jobs/deploy.x"), &once)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // The wildcard namespace allows everything; an unauthenticated request is 401, not 403.
    let all = tessera.token().await;
    assert_eq!(
        get_with_token(&edge.at("/jobs/backup.x"), &all)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get(&edge.at("/jobs/backup.x"), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&edge.at("/jobs/public/readme"), &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_unreachable_fails_closed_with_503_and_recovers() {
    let tessera = tessera();
    let target = tessera.ready.grpc_addr.parse().unwrap();
    let forwarder = Forwarder::start("127.0.0.1:0".parse().unwrap(), target);
    let through = forwarder.addr;
    let upstream = upstream::start().await;
    let edge = Edge::start_with(
        &format!("http://{through}"),
        &tessera.ready.service_token,
        // Without the decision cache, whose own outage behaviour `decision_cache::` tests (it
        // trusts nothing once the edge has seen its revocation feed drop).
        &[
            "--upstream",
            &upstream.url(),
            "--tessera-timeout",
            "2s",
            "--decision-cache-ttl",
            "0",
        ],
    )
    .await
    .expect("edge through the forwarder");
    let token = tessera.token().await;
    let url = edge.at("/guarded");
    assert_eq!(get_with_token(&url, &token).await.status, StatusCode::OK);

    forwarder.stop().await;
    for _ in 0..5 {
        let reply = get_with_token(&url, &token).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text()
        );
        assert!(reply.header("retry-after").is_some());
    }
    let verify = get_with_token(&edge.at("/auth/verify"), &token).await;
    assert_eq!(verify.status, StatusCode::SERVICE_UNAVAILABLE);
    // Public routes do not need Tessera.
    assert_eq!(
        get(&edge.at("/api/v1/public/ping"), &[]).await.status,
        StatusCode::OK
    );

    let again = Forwarder::start(through, target);
    eventually(
        Duration::from_secs(20),
        "the edge to reach tessera again",
        || async { get_with_token(&url, &token).await.status == StatusCode::OK },
    )
    .await;
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_to_start_with_a_bad_service_token() {
    let tessera = tessera();
    let uri = tessera.uri();
    let expect_refusal = |result: Result<Edge, crate::support::EdgeFailure>, why: &str| match result
    {
        Ok(_) => panic!("the edge started although {why}"),
        Err(failure) => {
            let status = failure.status.expect("the edge exited");
            assert!(!status.success(), "exit status {status}");
            assert!(
                failure.stderr.contains(why),
                "stderr lacks {why:?}: {}",
                failure.stderr
            );
        }
    };
    // The dev admin's session holds `*` with the admin role: admin rights.
    expect_refusal(
        Edge::start_with(&uri, &tessera.ready.admin_token, &[]).await,
        "admin rights",
    );
    // A token without `introspect`.
    let no_introspect = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            permissions: vec!["issue".into()],
            token_type: pb::TokenType::Service as i32,
            ..Default::default()
        })
        .await;
    expect_refusal(
        Edge::start_with(&uri, &no_introspect, &[]).await,
        "introspect",
    );
    // A revoked token.
    let revoked = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            permissions: vec!["introspect".into()],
            token_type: pb::TokenType::Service as i32,
            ..Default::default()
        })
        .await;
    tessera.revoke(&revoked).await;
    expect_refusal(Edge::start_with(&uri, &revoked, &[]).await, "not active");
    // Tessera unreachable for longer than the start-up patience.
    let closed = format!("http://127.0.0.1:{}", closed_port());
    expect_refusal(
        Edge::start_with(
            &closed,
            &tessera.ready.service_token,
            &["--startup-timeout", "1s"],
        )
        .await,
        "cannot check the service token",
    );
    // A least-privileged service token issued for the edge is accepted.
    let good = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            permissions: vec!["introspect".into()],
            token_type: pb::TokenType::Service as i32,
            ..Default::default()
        })
        .await;
    let mut edge = Edge::start_with(&uri, &good, &[])
        .await
        .expect("good service token");
    assert!(edge.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_reaches_tessera_over_tls_with_a_private_ca_and_fails_over() {
    let certs = tempfile::tempdir().unwrap();
    tessera_harness::pki::Pki::new("edge-http")
        .write_server_files(certs.path())
        .unwrap();
    let (ca_file, cert_file, key_file) = (
        certs.path().join("ca.pem"),
        certs.path().join("tls.crt"),
        certs.path().join("tls.key"),
    );
    let tls_tessera =
        crate::support::start_tls_tessera(&cert_file, &key_file).expect("tls tessera");
    let port = tls_tessera.ready.grpc_addr.rsplit_once(':').unwrap().1;
    let https = format!("https://localhost:{port}");
    let ca_arg = ca_file.display().to_string();
    let upstream = upstream::start().await;

    // Trusted through --tessera-ca: the start-up check and every request go over TLS. The first
    // address is dead, so the edge fails over to the second.
    let both = format!("https://127.0.0.1:{},{https}", closed_port());
    let edge = Edge::start_with(
        &both,
        &tls_tessera.ready.service_token,
        &["--tessera-ca", &ca_arg, "--upstream", &upstream.url()],
    )
    .await
    .expect("the edge starts against tessera over tls");
    let url = edge.at("/things");
    let reply = get_with_token(&url, &tls_tessera.ready.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        get_with_token(&url, "tsr_api_not_a_token").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Without the CA, the system roots do not trust the certificate: the edge never starts.
    match Edge::start_with(
        &https,
        &tls_tessera.ready.service_token,
        &["--startup-timeout", "1s"],
    )
    .await
    {
        Ok(_) => panic!("the edge trusted a certificate from an unknown CA"),
        Err(failure) => assert!(
            failure.stderr.contains("cannot check the service token"),
            "{}",
            failure.stderr
        ),
    }
    // A CA for a plaintext address is a configuration error, refused at once.
    match Edge::start_with(
        &format!("http://127.0.0.1:{port}"),
        &tls_tessera.ready.service_token,
        &["--tessera-ca", &ca_arg],
    )
    .await
    {
        Ok(_) => panic!("the edge accepted a CA for a plaintext address"),
        Err(failure) => assert!(
            failure.stderr.contains("use https://"),
            "{}",
            failure.stderr
        ),
    }
}
