//! The trust boundaries an outside review broke (issue 12, H4, H5, M4, M6), each against the real
//! edge binary, the real `tessera dev` and — where the upstream's parser is the point — a real
//! WSGI server (Python's `wsgiref`, which folds `_` and `-` in header names as every WSGI, CGI,
//! Rack and PHP server does).

use crate::support::http_client::{get, request, send, Reply};
use crate::support::{deploy_token, tessera, wsgi, Edge};
use axum::body::Body;
use http::{Method, StatusCode};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn send_method(method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    send(request(method, url, headers, Body::empty())).await
}

/// H5: `X_Tessera_Username: root` must never become the upstream's `HTTP_X_TESSERA_USERNAME`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_spelled_with_underscores_never_reach_a_wsgi_upstream() {
    let tessera = tessera();
    let upstream = wsgi::start();
    let edge = Edge::start(&["--upstream", &upstream.url, "--public-route", "/open/"]).await;
    let frank = tessera.login("frank", crate::support::PASSWORD).await;
    let auth = bearer(&frank);

    // Authenticated route: refused before Tessera is asked, rather than left for WSGI to merge.
    for spelling in [
        "X_Tessera_Username",
        "x_tessera_roles",
        "X-Tessera_Elevated",
    ] {
        let reply = get(
            &edge.at("/private"),
            &[("authorization", &auth), (spelling, "root")],
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{spelling}: {}",
            reply.text()
        );
    }
    // The same request without the forged header passes, with the identity Tessera gave.
    let clean = get(&edge.at("/private"), &[("authorization", &auth)]).await;
    assert_eq!(clean.status, StatusCode::OK, "{}", clean.text());
    assert_eq!(clean.json()["HTTP_X_TESSERA_USERNAME"], "frank");

    // Public route: passes, with the forged header stripped in every spelling.
    let public = get(
        &edge.at("/open/page"),
        &[
            ("X_Tessera_Username", "root"),
            ("X-TESSERA-ROLES", "admin"),
            ("x_tessera_subject", "0"),
        ],
    )
    .await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.text());
    let seen = public.json();
    for key in [
        "HTTP_X_TESSERA_USERNAME",
        "HTTP_X_TESSERA_ROLES",
        "HTTP_X_TESSERA_SUBJECT",
    ] {
        assert!(
            seen.get(key).is_none(),
            "{key} reached the upstream: {seen}"
        );
    }

    // Forward-auth: the front proxy would pass the `_` spelling on, so the edge refuses it.
    let verify = get(
        &edge.at("/auth/verify"),
        &[
            ("authorization", &auth),
            ("x-forwarded-uri", "/private"),
            ("X_Tessera_Username", "root"),
        ],
    )
    .await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST, "{}", verify.text());
    // … even on a public route, since there the proxy would pass it on unasked.
    let public = get(
        &edge.at("/auth/verify"),
        &[
            ("x-forwarded-uri", "/open/page"),
            ("X_Tessera_Username", "root"),
        ],
    )
    .await;
    assert_eq!(public.status, StatusCode::BAD_REQUEST, "{}", public.text());
}

/// M4: a lower-case `post` meets the `POST` rule and reaches the upstream as `POST`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_case_methods_meet_the_rules_and_reach_the_upstream_canonical() {
    let upstream = wsgi::start();
    let edge = Edge::start(&[
        "--upstream",
        &upstream.url,
        "--namespace-rule",
        "POST,DELETE /jobs/{id}",
    ])
    .await;
    let deploy = deploy_token().await;
    let auth = bearer(&deploy);
    for method in ["post", "Post", "delete"] {
        let outside = send_method(
            method,
            &edge.at("/jobs/backup.x"),
            &[("authorization", &auth)],
        )
        .await;
        assert_eq!(
            outside.status,
            StatusCode::FORBIDDEN,
            "{method} skipped the rule: {}",
            outside.text()
        );
    }
    let inside = send_method(
        "post",
        &edge.at("/jobs/deploy.x"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(inside.status, StatusCode::OK, "{}", inside.text());
    assert_eq!(inside.json()["REQUEST_METHOD"], "POST");
    // A lower-case method nobody agrees on is refused, not guessed at.
    let odd = send_method(
        "propfind",
        &edge.at("/jobs/deploy.x"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST, "{}", odd.text());

    // Forward-auth: the described method is compared the same way.
    let verify = get(
        &edge.at("/auth/verify"),
        &[
            ("authorization", &auth),
            ("x-forwarded-method", "post"),
            ("x-forwarded-uri", "/jobs/backup.x"),
        ],
    )
    .await;
    assert_eq!(verify.status, StatusCode::FORBIDDEN, "{}", verify.text());
}

/// M6: the client's bearer reaches the upstream on no route unless `--forward-authorization`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_never_reaches_the_upstream_unless_asked() {
    let tessera = tessera();
    let upstream = wsgi::start();
    let token = tessera.token().await;
    let auth = bearer(&token);
    let edge = Edge::start(&["--upstream", &upstream.url, "--public-route", "/open/"]).await;
    for path in ["/open/page", "/private"] {
        let reply = get(&edge.at(path), &[("authorization", &auth)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
        let seen = reply.json();
        assert!(
            seen.get("HTTP_AUTHORIZATION").is_none(),
            "{path}: the bearer reached the upstream: {seen}"
        );
    }
    let forwarding = Edge::start(&[
        "--upstream",
        &upstream.url,
        "--public-route",
        "/open/",
        "--forward-authorization",
    ])
    .await;
    for path in ["/open/page", "/private"] {
        let reply = get(&forwarding.at(path), &[("authorization", &auth)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
        assert_eq!(reply.json()["HTTP_AUTHORIZATION"], auth.as_str(), "{path}");
    }
}

/// H4: the request description comes from the configured proxy's headers only; unconfigured, two
/// families that disagree are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_reads_only_the_front_proxys_headers() {
    let deploy = deploy_token().await;
    let auth = bearer(&deploy);
    let rules = [
        "--public-route",
        "/api/v1/public/",
        "--namespace-rule",
        "/jobs/{id}",
    ];
    // nginx sets X-Original-URI; the client adds X-Forwarded-Uri naming a public route.
    let client_lie = [
        ("x-original-uri", "/private"),
        ("x-forwarded-uri", "/api/v1/public/x"),
    ];
    let scope_lie = [
        ("authorization", auth.as_str()),
        ("x-original-uri", "/jobs/backup.x"),
        ("x-forwarded-uri", "/api/v1/public/x"),
    ];

    let auto = Edge::start(&rules).await;
    let verify = auto.at("/auth/verify");
    assert_eq!(
        get(&verify, &client_lie).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&verify, &scope_lie).await.status,
        StatusCode::BAD_REQUEST
    );

    let nginx = Edge::start(&[&rules[..], &["--front-proxy", "nginx"]].concat()).await;
    let verify = nginx.at("/auth/verify");
    assert_eq!(
        get(&verify, &client_lie).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(&verify, &scope_lie).await.status, StatusCode::FORBIDDEN);

    // Caddy sets X-Forwarded-Uri; a client-added X-Original-URI is not read.
    let caddy = Edge::start(&[&rules[..], &["--front-proxy", "caddy"]].concat()).await;
    let reply = get(
        &caddy.at("/auth/verify"),
        &[
            ("x-forwarded-uri", "/private"),
            ("x-original-uri", "/api/v1/public/x"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
}
