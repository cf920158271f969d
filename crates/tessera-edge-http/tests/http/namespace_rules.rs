//! Namespace rules against path spellings that upstream servers read differently from the edge
//! (issue 30): path parameters (`;x`, which Tomcat, Jetty and Spring drop), trailing dots and
//! whitespace (which IIS and Spring's matcher trim), `%25` (a second decoding upstream) and paths
//! that stop before the rule's identifier. Each against the real edge binary and a real Tessera.

use crate::support::http_client::{get, get_with_token};
use crate::support::{deploy_token, tessera, upstream, Edge};
use http::StatusCode;

/// Paths an upstream may route to `/api/jobs/backup.x` or to another job outside `deploy.`
/// (`/api/jobs/deploy.` becomes job `deploy` where trailing dots are trimmed).
const SMUGGLED: [&str; 10] = [
    "/api/jobs;x/backup.x",
    "/api;a=b/jobs/backup.x",
    "/api/jobs./backup.x",
    "/api/jobs%20/backup.x",
    "/api/jobs/deploy.x%252f..%252fbackup.x",
    "/api/j%256Fbs/backup.x",
    "/api/jobs/deploy.",
    "/api/jobs/deploy.x;y",
    "/api/jobs/deploy.x.",
    "/api/jobs/deploy.x%20",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_spellings_upstreams_normalise_cannot_skip_a_namespace_rule() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&[
        "--upstream",
        &upstream.url(),
        "--namespace-rule",
        "/api/jobs/{id}",
    ])
    .await;
    let deploy = deploy_token().await;
    let reply = get_with_token(&edge.at("/api/jobs/backup.x"), &deploy).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    let reply = get_with_token(&edge.at("/api/jobs/deploy.x"), &deploy).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    for path in SMUGGLED {
        let reply = get_with_token(&edge.at(path), &deploy).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path} was not refused: {}",
            reply.text()
        );
        assert!(
            reply.text().contains("namespace rule"),
            "{path}: the refusal does not say why: {}",
            reply.text()
        );
    }
    // Forward-auth decides the described path the same way.
    for path in SMUGGLED {
        let reply = get(
            &edge.at("/auth/verify"),
            &[
                ("authorization", &format!("Bearer {deploy}")),
                ("x-forwarded-uri", path),
            ],
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "verify {path}");
    }
    // Outside every rule, such spellings are the upstream's business.
    let reply = get_with_token(&edge.at("/other;x/backup.x."), &deploy).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_stops_before_the_identifier_is_not_allowed_to_a_namespaced_token() {
    let upstream = upstream::start().await;
    let edge = Edge::start(&[
        "--upstream",
        &upstream.url(),
        "--namespace-rule",
        "/api/jobs/{id}/run",
    ])
    .await;
    let deploy = deploy_token().await;
    for path in [
        "/api/jobs",
        "/api/jobs/",
        "/API/jobs//",
        "/api/jobs/backup.x",
    ] {
        let reply = get_with_token(&edge.at(path), &deploy).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path} passed unchecked: {}",
            reply.text()
        );
    }
    let reply = get_with_token(&edge.at("/api/jobs/deploy.x"), &deploy).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // A token for every identifier may still read the whole collection.
    let all = tessera().token().await;
    for path in ["/api/jobs", "/api/jobs/", "/api/jobs/backup.x/run"] {
        let reply = get_with_token(&edge.at(path), &all).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    }
}
