//! The edge's decision cache against the real Tessera, over real sockets: a repeated
//! `/auth/verify` is answered without an Introspect (counted on Tessera's own metrics), a
//! revocation reaches the edge through the feed, limited-use tokens always reach Tessera, and
//! without the feed every request goes to Tessera, failing closed (503) while it is unreachable.

use std::time::Duration;

use http::StatusCode;
use tessera_proto::v1 as pb;

use crate::support::forwarder::Forwarder;
use crate::support::http_client::{get, get_with_token};
use crate::support::{
    closed_port, eventually, start_private_tessera, tessera, upstream, Edge, Tessera, PASSWORD,
};

/// How long a revocation may take to reach the edge: the line edge's revocation test allows the
/// same.
const REVOCATION_BOUND: Duration = Duration::from_secs(10);

/// How long the edge may take to (re)connect its revocation feed.
const FEED_BOUND: Duration = Duration::from_secs(30);

/// The sum of every sample of `name` whose line contains `filter`, on the metrics page `url`.
async fn metric(url: &str, name: &str, filter: &str) -> f64 {
    let page = get(url, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{url}");
    page.text()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter(|line| line.contains(filter))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An edge with its metrics served, and where.
struct Watched {
    edge: Edge,
    metrics: String,
}

impl Watched {
    async fn start(tessera: &str, service_token: &str, args: &[&str]) -> Watched {
        let listen = format!("127.0.0.1:{}", closed_port());
        let mut all = vec!["--metrics-listen", &listen];
        all.extend_from_slice(args);
        let edge = Edge::start_with(tessera, service_token, &all)
            .await
            .unwrap_or_else(|failure| panic!("edge did not start: {failure:?}"));
        Watched {
            edge,
            metrics: format!("http://{listen}/metrics"),
        }
    }

    async fn feed_connected(&self) -> bool {
        metric(
            &self.metrics,
            "tessera_edge_http_revocation_feed_connected",
            "",
        )
        .await
            == 1.0
    }

    async fn wait_feed(&self, connected: bool) {
        eventually(FEED_BOUND, "the edge's revocation feed state", || async {
            self.feed_connected().await == connected
        })
        .await;
    }

    async fn lookups(&self, result: &str) -> f64 {
        metric(
            &self.metrics,
            "tessera_edge_http_decision_cache_lookups_total",
            &format!("result=\"{result}\""),
        )
        .await
    }

    async fn verify(&self, token: &str) -> StatusCode {
        get_with_token(&self.edge.at("/auth/verify"), token)
            .await
            .status
    }
}

/// A Tessera of the test's own, so that the calls counted on its metrics are this test's alone.
struct Counted {
    tessera: Tessera,
    metrics: String,
}

impl Counted {
    fn start() -> Counted {
        let listen = format!("127.0.0.1:{}", closed_port());
        let tessera = start_private_tessera(&[("TESSERA_METRICS_LISTEN", &listen)])
            .unwrap_or_else(|e| panic!("{e}"));
        Counted {
            tessera,
            metrics: format!("http://{listen}/metrics"),
        }
    }

    /// How many `rpc` calls Tessera has answered so far.
    async fn calls(&self, rpc: &str) -> f64 {
        metric(
            &self.metrics,
            "tessera_rpc_responses_total",
            &format!("AuthService/{rpc}\""),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_decision_is_served_without_an_introspect() {
    let counted = Counted::start();
    let tessera = &counted.tessera;
    let introspects = || counted.calls("Introspect");
    let token = tessera.ready.service_token.clone();
    let cached = Watched::start(&tessera.uri(), &token, &["--decision-cache-ttl", "60s"]).await;
    let plain = Watched::start(&tessera.uri(), &token, &["--decision-cache-ttl", "0"]).await;
    cached.wait_feed(true).await;
    assert!(
        !plain.feed_connected().await,
        "a disabled cache follows no feed"
    );
    let user = tessera.token().await;

    let before = introspects().await;
    let first = get_with_token(&cached.edge.at("/auth/verify"), &user).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let token_id = first.header("x-tessera-token-id").unwrap_or_default();
    assert!(!token_id.is_empty());
    for _ in 0..9 {
        let again = get_with_token(&cached.edge.at("/auth/verify"), &user).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.header("x-tessera-token-id"), Some(token_id));
        assert_eq!(
            again.header("x-tessera-username"),
            first.header("x-tessera-username")
        );
    }
    assert_eq!(
        introspects().await - before,
        1.0,
        "ten requests, one Introspect"
    );
    assert_eq!(cached.lookups("hit").await, 9.0);

    let before = introspects().await;
    for _ in 0..5 {
        assert_eq!(plain.verify(&user).await, StatusCode::OK);
    }
    assert_eq!(
        introspects().await - before,
        5.0,
        "with --decision-cache-ttl 0, every request asks Tessera"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_the_edge_and_the_next_requests_are_refused() {
    let tessera = tessera();
    // A TTL far beyond the bound: only the feed can end these entries in time.
    let edge = Watched::start(
        &tessera.uri(),
        &tessera.ready.service_token,
        &["--decision-cache-ttl", "60s"],
    )
    .await;
    edge.wait_feed(true).await;

    let token = tessera.token().await;
    let session = tessera.login("erin", PASSWORD).await;
    let child = tessera.child_of(&session).await;
    for held in [&token, &child] {
        assert_eq!(edge.verify(held).await, StatusCode::OK);
        assert_eq!(edge.verify(held).await, StatusCode::OK);
    }
    assert!(edge.lookups("hit").await >= 2.0, "answers were cached");

    tessera.revoke(&token).await;
    eventually(REVOCATION_BOUND, "the revoked token refused", || async {
        edge.verify(&token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    // The session goes, and the token derived from it with it.
    tessera.revoke(&session).await;
    eventually(
        REVOCATION_BOUND,
        "the revoked session's child refused",
        || async { edge.verify(&child).await == StatusCode::UNAUTHORIZED },
    )
    .await;
    for held in [&token, &child] {
        for _ in 0..3 {
            assert_eq!(edge.verify(held).await, StatusCode::UNAUTHORIZED);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_use_token_is_never_served_from_the_cache() {
    let tessera = tessera();
    let edge = Watched::start(
        &tessera.uri(),
        &tessera.ready.service_token,
        &["--decision-cache-ttl", "60s"],
    )
    .await;
    edge.wait_feed(true).await;
    let thrice = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            max_uses: 3,
            ..Default::default()
        })
        .await;
    let hits = edge.lookups("hit").await;
    for n in 1..=3 {
        assert_eq!(edge.verify(&thrice).await, StatusCode::OK, "use {n}");
    }
    for _ in 0..3 {
        assert_eq!(edge.verify(&thrice).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(edge.lookups("hit").await, hits, "no use was a cache hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_feed_every_request_goes_to_tessera_and_an_outage_is_503() {
    let tessera = tessera();
    let target = tessera.ready.grpc_addr.parse().unwrap();
    let forwarder = Forwarder::start("127.0.0.1:0".parse().unwrap(), target);
    let through = forwarder.addr;
    let edge = Watched::start(
        &format!("http://{through}"),
        &tessera.ready.service_token,
        &["--decision-cache-ttl", "60s", "--tessera-timeout", "2s"],
    )
    .await;
    edge.wait_feed(true).await;
    let kept = tessera.token().await;
    let revoked = tessera.token().await;
    // Other tests revoke tokens on the same Tessera at the same time, and an answer whose call was
    // in flight when any revocation arrived is not kept: ask again until both are served from
    // the cache (bounded).
    let mut hits = 0.0;
    for _ in 0..50 {
        for held in [&kept, &revoked] {
            assert_eq!(edge.verify(held).await, StatusCode::OK);
        }
        hits = edge.lookups("hit").await;
        if hits >= 2.0 {
            break;
        }
    }
    assert!(hits >= 2.0, "answers were cached");

    // Tessera unreachable: the feed is down, so cached allows are no longer trusted.
    forwarder.stop().await;
    edge.wait_feed(false).await;
    let bypassed = edge.lookups("bypass").await;
    for _ in 0..3 {
        let reply = get_with_token(&edge.edge.at("/auth/verify"), &kept).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text()
        );
    }
    assert_eq!(edge.lookups("hit").await, hits, "no stale allow");
    assert!(edge.lookups("bypass").await >= bypassed + 3.0);

    // Revoked while the edge could not hear of it: refused as soon as Tessera answers again,
    // without waiting for the feed to catch up.
    tessera.revoke(&revoked).await;
    let _back = Forwarder::start(through, target);
    let deadline = std::time::Instant::now() + FEED_BOUND;
    let answered = loop {
        let status = edge.verify(&revoked).await;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tessera never reachable again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(answered, StatusCode::UNAUTHORIZED, "a stale allow");
    assert_eq!(edge.verify(&kept).await, StatusCode::OK);
    edge.wait_feed(true).await;
    assert_eq!(edge.verify(&revoked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(edge.verify(&kept).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_rule_is_decided_from_the_cached_answer_without_a_call() {
    let counted = Counted::start();
    let tessera = &counted.tessera;
    let calls = |rpc: &'static str| counted.calls(rpc);
    let upstream = upstream::start().await;
    let edge = Watched::start(
        &tessera.uri(),
        &tessera.ready.service_token,
        &[
            "--decision-cache-ttl",
            "60s",
            "--upstream",
            &upstream.url(),
            "--namespace-rule",
            "/jobs/{id}",
        ],
    )
    .await;
    edge.wait_feed(true).await;
    let deploy = tessera
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            namespace: "deploy.".into(),
            ..Default::default()
        })
        .await;
    let status = |path: &'static str, token: String| {
        let url = edge.edge.at(path);
        async move { get_with_token(&url, &token).await.status }
    };

    let (checks, introspects) = (calls("CheckNamespace").await, calls("Introspect").await);
    // The first request asks Tessera both questions, and its Introspect answer is cached.
    assert_eq!(
        status("/jobs/deploy.a", deploy.clone()).await,
        StatusCode::OK
    );
    assert_eq!(calls("CheckNamespace").await - checks, 1.0);
    assert_eq!(calls("Introspect").await - introspects, 1.0);
    // Then inside and outside the namespace, decided at the edge: the same answers, no call.
    for _ in 0..3 {
        for (path, expected) in [
            ("/jobs/deploy.a", StatusCode::OK),
            ("/jobs/deploy.b/logs", StatusCode::OK),
            ("/jobs/backup.a", StatusCode::FORBIDDEN),
            ("/jobs/deploy", StatusCode::FORBIDDEN),
        ] {
            assert_eq!(status(path, deploy.clone()).await, expected, "{path}");
        }
    }
    assert_eq!(
        calls("CheckNamespace").await - checks,
        1.0,
        "twelve more requests, no CheckNamespace"
    );
    assert_eq!(calls("Introspect").await - introspects, 1.0);
    // Unicode identifiers too: the edge's decision is Tessera's own (`tessera_rules::decision`,
    // held to CheckNamespace by the differential test), so no call is needed for them either.
    assert_eq!(
        status("/jobs/deploy.%C3%A9t%C3%A9", deploy.clone()).await,
        StatusCode::OK
    );
    assert_eq!(
        status("/jobs/d%C3%A9ploy.a", deploy.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(calls("CheckNamespace").await - checks, 1.0);

    // A revocation ends the local decisions with the cached answer.
    tessera.revoke(&deploy).await;
    eventually(REVOCATION_BOUND, "the revoked token refused", || async {
        status("/jobs/deploy.a", deploy.clone()).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(
        status("/jobs/backup.a", deploy.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a revoked token is inactive, not out of scope"
    );
}
