//! The session surface (login, status, root unlock and lock, issuing tokens, logout), HTTPS with
//! rustls and behind a trusted proxy, the forward-auth endpoint called directly, and bad input.

use crate::support::http_client::{
    get, get_with_token, post_json, raw, raw_status, request, send, send_tls,
};
use crate::support::{tessera, upstream, Edge, PASSWORD};
use axum::body::Body;
use http::{Method, StatusCode};
use serde_json::json;

const SESSION: &str = "__Host-tessera_session";
const ELEVATED: &str = "__Host-tessera_elevated";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_logs_in_unlocks_issues_tokens_and_logs_out() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&[
        "--upstream",
        &upstream.url(),
        "--insecure-dev-http",
        "--allowed-origin",
        "http://app.example",
    ])
    .await;
    let origin = edge.url.clone();

    let wrong = post_json(
        &edge.at("/api/auth/session/login"),
        &[],
        &json!({"username": "bob", "password": "nope"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text());
    assert_eq!(wrong.json()["error"], "invalid_credentials");
    assert!(wrong.set_cookie(SESSION).is_none());

    let login = post_json(
        &edge.at("/api/auth/session/login"),
        &[("origin", &origin)],
        &json!({"username": "bob", "password": PASSWORD, "totp_code": ""}),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    assert_eq!(login.json()["username"], "bob");
    assert!(
        !login.text().contains("tsr_"),
        "the session secret stays in the cookie"
    );
    let line = login.set_cookie_line(SESSION).expect("session cookie");
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(line.contains(part), "{line} lacks {part}");
    }
    let session = login.set_cookie(SESSION).unwrap();
    let cookie = format!("{SESSION}={session}");

    let status = get(&edge.at("/api/auth/session/status"), &[("cookie", &cookie)]).await;
    assert_eq!(status.json()["authenticated"], true);
    assert_eq!(status.json()["username"], "bob");

    // The cookie authenticates proxied requests; state changes must be same-origin.
    let page = get(&edge.at("/dashboard"), &[("cookie", &cookie)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.echoed("x-tessera-username"), vec!["bob"]);
    let post = |headers: Vec<(&'static str, String)>| {
        let mut all: Vec<(&str, &str)> = vec![("cookie", &cookie)];
        all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
        send(request(Method::POST, &edge.at("/dashboard"), &all, "{}"))
    };
    assert_eq!(
        post(vec![]).await.status,
        StatusCode::FORBIDDEN,
        "no origin information"
    );
    assert_eq!(
        post(vec![("origin", "http://evil.example".into())])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(vec![("sec-fetch-site", "cross-site".into())])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(vec![("origin", origin.clone())]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post(vec![("sec-fetch-site", "same-origin".into())])
            .await
            .status,
        StatusCode::OK
    );
    // An --allowed-origin page, which browsers mark cross-site, may; its neighbours may not.
    assert_eq!(
        post(vec![
            ("sec-fetch-site", "cross-site".into()),
            ("origin", "http://app.example".into())
        ])
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        post(vec![
            ("sec-fetch-site", "same-site".into()),
            ("origin", "http://other.example".into())
        ])
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // Safe methods need no origin information; a bearer-authenticated write needs none either.
    assert_eq!(
        get(&edge.at("/dashboard"), &[("cookie", &cookie)])
            .await
            .status,
        StatusCode::OK
    );
    let bearer = format!("Bearer {session}");
    assert_eq!(
        send(request(
            Method::POST,
            &edge.at("/dashboard"),
            &[("authorization", &bearer)],
            "{}"
        ))
        .await
        .status,
        StatusCode::OK
    );

    // Issue a single-use token as the session.
    let issued = post_json(
        &edge.at("/auth/tokens"),
        &[("cookie", &cookie), ("origin", &origin)],
        &json!({"ttl": "10m", "remove_on_use": true}),
    )
    .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text());
    assert_eq!(issued.header("cache-control"), Some("no-store"));
    let once = issued.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        get_with_token(&edge.at("/x"), &once).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token(&edge.at("/x"), &once).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A two-use token confined to a namespace.
    let issued = post_json(
        &edge.at("/auth/tokens"),
        &[("cookie", &cookie), ("origin", &origin)],
        &json!({"ttl": "10m", "max_uses": 2, "namespace": "deploy.", "description": "ci"}),
    )
    .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text());
    assert_eq!(issued.json()["max_uses"], 2);
    assert_eq!(issued.json()["namespace"], "deploy.");
    let twice = issued.json()["token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let reply = get_with_token(&edge.at("/x"), &twice).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.echoed("x-tessera-namespace"), vec!["deploy."]);
        assert_eq!(reply.echoed("x-tessera-username"), vec!["bob"]);
    }
    assert_eq!(
        get_with_token(&edge.at("/x"), &twice).await.status,
        StatusCode::UNAUTHORIZED
    );
    let both = post_json(
        &edge.at("/auth/tokens"),
        &[("cookie", &cookie), ("origin", &origin)],
        &json!({"remove_on_use": true, "max_uses": 3}),
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.text());
    let anonymous = post_json(&edge.at("/auth/tokens"), &[], &json!({})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let cross = post_json(
        &edge.at("/auth/tokens"),
        &[("cookie", &cookie), ("origin", "http://evil.example")],
        &json!({}),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let greedy = post_json(
        &edge.at("/auth/tokens"),
        &[("cookie", &cookie), ("origin", &origin)],
        &json!({"ttl": "3650d"}),
    )
    .await;
    assert!(
        greedy.status.is_client_error(),
        "a token outliving its session: {}",
        greedy.text()
    );

    // Logout revokes the session itself, not just the cookie.
    let logout = post_json(
        &edge.at("/api/auth/session/logout"),
        &[("cookie", &cookie), ("origin", &origin)],
        &json!({}),
    )
    .await;
    assert_eq!(logout.status, StatusCode::OK, "{}", logout.text());
    assert_eq!(logout.set_cookie(SESSION).as_deref(), Some(""));
    assert_eq!(
        get(&edge.at("/dashboard"), &[("cookie", &cookie)])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_with_token(&edge.at("/dashboard"), &session)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let after = get(&edge.at("/api/auth/session/status"), &[("cookie", &cookie)]).await;
    assert_eq!(after.json()["authenticated"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_unlock_keeps_the_elevated_token_in_its_own_cookie_until_lock() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let edge = Edge::start(&["--upstream", &upstream.url(), "--insecure-dev-http"]).await;
    let origin = edge.url.clone();
    let ready = &tessera.ready;
    let login = post_json(
        &edge.at("/api/auth/session/login"),
        &[],
        &json!({"username": ready.admin_username, "password": ready.admin_password}),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    let session = format!("{SESSION}={}", login.set_cookie(SESSION).unwrap());

    let not_yet = get(&edge.at("/api/auth/root/status"), &[("cookie", &session)]).await;
    assert_eq!(not_yet.json()["elevated"], false);
    let wrong = post_json(
        &edge.at("/api/auth/root/unlock"),
        &[("cookie", &session), ("origin", &origin)],
        &json!({"password": "not it"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text());
    let cross = post_json(
        &edge.at("/api/auth/root/unlock"),
        &[("cookie", &session), ("origin", "http://evil.example")],
        &json!({"password": ready.admin_password}),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);

    let unlock = post_json(
        &edge.at("/api/auth/root/unlock"),
        &[("cookie", &session), ("origin", &origin)],
        &json!({"password": ready.admin_password, "ttl": "5m"}),
    )
    .await;
    assert_eq!(unlock.status, StatusCode::OK, "{}", unlock.text());
    assert_eq!(unlock.json()["elevated"], true);
    assert!(
        !unlock.text().contains("tsr_"),
        "the elevated secret stays in the cookie"
    );
    let line = unlock.set_cookie_line(ELEVATED).expect("elevated cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Max-Age=")
    );
    let both = format!(
        "{session}; {ELEVATED}={}",
        unlock.set_cookie(ELEVATED).unwrap()
    );

    let status = get(&edge.at("/api/auth/root/status"), &[("cookie", &both)]).await;
    assert_eq!(status.json()["elevated"], true, "{}", status.text());
    let proxied = get(&edge.at("/admin"), &[("cookie", &both)]).await;
    assert_eq!(proxied.echoed("x-tessera-elevated"), vec!["true"]);

    let lock = post_json(
        &edge.at("/api/auth/root/lock"),
        &[("cookie", &both), ("origin", &origin)],
        &json!({}),
    )
    .await;
    assert_eq!(lock.status, StatusCode::OK, "{}", lock.text());
    assert_eq!(lock.set_cookie(ELEVATED).as_deref(), Some(""));
    let status = get(&edge.at("/api/auth/root/status"), &[("cookie", &both)]).await;
    assert_eq!(status.json()["elevated"], false);
    // A stale elevated cookie falls back to the session, and the response clears it.
    let proxied = get(&edge.at("/admin"), &[("cookie", &both)]).await;
    assert_eq!(proxied.status, StatusCode::OK);
    assert_eq!(proxied.echoed("x-tessera-elevated"), vec!["false"]);
    assert_eq!(proxied.set_cookie(ELEVATED).as_deref(), Some(""));
}

fn certificate() -> (Vec<u8>, String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    (cert.der().to_vec(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_rustls_and_behind_a_trusted_proxy() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (der, cert_pem, key_pem) = certificate();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    let tls = Edge::start(&[
        "--upstream",
        &upstream.url(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .await;
    assert!(tls.url.starts_with("https://"));
    let token = tessera.token().await;
    let auth = format!("Bearer {token}");
    let reply = send_tls(
        tls.addr,
        &der,
        request(
            Method::GET,
            "/over-tls",
            &[("host", "localhost"), ("authorization", &auth)],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.echoed("x-forwarded-proto"), vec!["https"]);
    let login = send_tls(
        tls.addr,
        &der,
        request(
            Method::POST,
            "/api/auth/session/login",
            &[("host", "localhost"), ("content-type", "application/json")],
            json!({"username": "erin", "password": PASSWORD}).to_string(),
        ),
    )
    .await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "session login over https: {}",
        login.text()
    );
    assert!(login.set_cookie(SESSION).is_some());

    // Plain HTTP: login refused; with --trust-proxy, X-Forwarded-Proto https counts.
    let plain = Edge::start(&["--upstream", &upstream.url()]).await;
    let body = json!({"username": "erin", "password": PASSWORD});
    let refused = post_json(
        &plain.at("/api/auth/session/login"),
        &[("x-forwarded-proto", "https")],
        &body,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "https_required");
    // The HTML form too: the page warns, and its POST is refused without setting a cookie.
    let page = get(&plain.at("/login"), &[]).await;
    assert!(
        page.text().contains("Signing in needs HTTPS"),
        "{}",
        page.text()
    );
    let form = send(request(
        Method::POST,
        &plain.at("/login"),
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("username=erin&password={}", PASSWORD.replace(' ', "+")),
    ))
    .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN, "{}", form.text());
    assert!(form.set_cookie(SESSION).is_none());
    // Without --trust-proxy, X-Forwarded-Proto does not reach the upstream as the client said it.
    let token = tessera.token().await;
    let auth = format!("Bearer {token}");
    let echoed = get(
        &plain.at("/x"),
        &[("authorization", &auth), ("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(echoed.echoed("x-forwarded-proto"), vec!["http"]);
    let proxied = Edge::start(&["--upstream", &upstream.url(), "--trust-proxy"]).await;
    let refused = post_json(&proxied.at("/api/auth/session/login"), &[], &body).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let accepted = post_json(
        &proxied.at("/api/auth/session/login"),
        &[("x-forwarded-proto", "https")],
        &body,
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text());
    let echoed = get(
        &proxied.at("/x"),
        &[("authorization", &auth), ("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(echoed.echoed("x-forwarded-proto"), vec!["https"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_upstream_shows_who_the_edge_says_you_are() {
    let tessera = tessera();
    let edge = Edge::start(&["--demo-upstream"]).await;
    let token = tessera.token().await;
    let page = get_with_token(&edge.at("/"), &token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains(">admin</td>"), "{}", page.text());
    let echo = get_with_token(&edge.at("/echo?x=1"), &token).await;
    assert_eq!(echo.json()["headers"]["x-tessera-username"], "admin");
    assert_eq!(echo.json()["query"], "x=1");
    assert_eq!(
        get(&edge.at("/"), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_endpoint_answers_for_the_original_request() {
    let tessera = tessera();
    let edge = Edge::start(&["--public-route", "/open/", "--namespace-rule", "/jobs/{id}"]).await;
    let verify = edge.at("/auth/verify");
    let deploy = tessera
        .issue(tessera_proto::v1::IssueTokenRequest {
            ttl: "1h".into(),
            namespace: "deploy.".into(),
            ..Default::default()
        })
        .await;
    let auth = format!("Bearer {deploy}");
    let ok = get(
        &verify,
        &[
            ("authorization", &auth),
            ("x-forwarded-uri", "/jobs/deploy.a?x=1"),
            ("x-tessera-username", "root"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.header("x-tessera-username"), Some("admin"));
    assert_eq!(ok.header("x-tessera-namespace"), Some("deploy."));
    let denied = get(
        &verify,
        &[
            ("authorization", &auth),
            ("x-forwarded-uri", "/jobs/backup.a"),
        ],
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let public = get(
        &verify,
        &[
            ("x-forwarded-uri", "/open/x"),
            ("x-forwarded-method", "POST"),
        ],
    )
    .await;
    assert_eq!(public.status, StatusCode::OK);
    // A public route: every identity header present and empty, so no proxy invents one.
    for name in [
        "x-tessera-subject",
        "x-tessera-username",
        "x-tessera-roles",
        "x-tessera-namespace",
        "x-tessera-token-id",
        "x-tessera-elevated",
    ] {
        assert_eq!(public.header(name), Some(""), "{name}");
    }
    let anonymous = get(&verify, &[("x-forwarded-uri", "/private")]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("invalid_token"));
    // Without an upstream the edge proxies nothing.
    assert_eq!(
        get_with_token(&edge.at("/anything"), &deploy).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_4xx_and_the_edge_keeps_serving() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let mut edge = Edge::start(&["--upstream", &upstream.url(), "--insecure-dev-http"]).await;
    let token = tessera.token().await;
    let head =
        |extra: &str| format!("GET /x HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n{extra}\r\n");
    let cases: Vec<(&str, Vec<u8>, std::ops::RangeInclusive<u16>)> = vec![
        (
            "oversized header",
            head(&format!("X-Big: {}\r\n", "a".repeat(20 * 1024))).into_bytes(),
            431..=431,
        ),
        (
            "many headers",
            head(&"X-N: 1\r\n".repeat(300)).into_bytes(),
            431..=431,
        ),
        (
            "bearer without token",
            head("Authorization: Bearer\r\n").into_bytes(),
            400..=400,
        ),
        (
            "bearer with spaces",
            head("Authorization: Bearer tsr_api_a b\r\n").into_bytes(),
            400..=400,
        ),
        (
            "bearer with two spaces",
            head(&format!("Authorization: Bearer  {token}\r\n")).into_bytes(),
            400..=400,
        ),
        (
            "control character in a header",
            head("Authorization: Bearer tsr\x01x\r\n").into_bytes(),
            400..=400,
        ),
        (
            "control character in a cookie",
            head("Cookie: __Host-tessera_session=a\x7fb\r\n").into_bytes(),
            400..=400,
        ),
        (
            "duplicated session cookie",
            head("Cookie: __Host-tessera_session=a; __Host-tessera_session=b\r\n").into_bytes(),
            400..=400,
        ),
        (
            "malformed session cookie",
            head("Cookie: __Host-tessera_session=\"a,b\"\r\n").into_bytes(),
            400..=400,
        ),
        (
            "cookie not text",
            [
                head("").trim_end().as_bytes(),
                b"\r\nCookie: a=\xff\xfe\r\n\r\n",
            ]
            .concat(),
            400..=400,
        ),
        (
            "dot segments",
            b"GET /a/../../etc/passwd HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n".to_vec(),
            400..=400,
        ),
        (
            "encoded nul in path",
            b"GET /a%00b HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n".to_vec(),
            400..=400,
        ),
        (
            "garbage request line",
            b"\x16\x03\x01 nonsense\r\n\r\n".to_vec(),
            400..=499,
        ),
        (
            "two authorization headers",
            head(&format!(
                "Authorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\n"
            ))
            .into_bytes(),
            400..=400,
        ),
    ];
    for (what, bytes, expected) in cases {
        let answer = raw(edge.addr, &bytes).await;
        let status = raw_status(&answer);
        assert!(
            expected.contains(&status),
            "{what}: got {status}: {}",
            answer.lines().next().unwrap_or("")
        );
    }
    let huge = json!({"username": "a".repeat(100_000), "password": "x"});
    // The edge closes the connection after refusing a body it did not read; without
    // `Connection: close` the test's pooled client could put that connection back in its pool
    // before it sees the close and send the next request into it (IncompleteMessage).
    let too_big = post_json(
        &edge.at("/api/auth/session/login"),
        &[("connection", "close")],
        &huge,
    )
    .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let not_json = send(request(
        Method::POST,
        &edge.at("/api/auth/session/login"),
        &[("content-type", "application/json")],
        "{\"username\": ",
    ))
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let bad_name = post_json(
        &edge.at("/api/auth/session/login"),
        &[],
        &json!({"username": "a\u{1}b", "password": "x"}),
    )
    .await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);

    // Still serving, and still deciding correctly.
    assert!(edge.is_running(), "the edge died: {}", edge.log());
    assert!(!edge.log().contains("panicked"), "{}", edge.log());
    assert_eq!(
        get(&edge.at("/api/v1/public/ping"), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token(&edge.at("/x"), &token).await.status,
        StatusCode::OK
    );
}
