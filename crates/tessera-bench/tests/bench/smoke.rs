//! The benchmark's smoke mode, as CI runs it: every scenario runs end to end against a real
//! PostgreSQL and real replicas and reports a figure. Performance ratios are not asserted here (a
//! short run on a busy CI machine proves nothing about them); the safety properties are: exactly
//! one SQL statement per uncached Introspect, a replica never accepting a token after its own
//! Revoke returned, and a replica whose listener was killed refusing a revoked token within 1 s.

use std::time::Duration;

use tessera_bench::{GoalVerdict, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_run_measures_every_scenario() {
    let _turn = super::one_at_a_time().await;
    let report = tessera_bench::run(Options::smoke())
        .await
        .expect("smoke run");
    println!("{report}");
    for prefix in [
        "cached Introspect throughput",
        "cached CheckNamespace",
        "cached Introspect p99, open loop",
        "grpc-go client: cached Introspect / Check",
        "grpc-go client: CheckNamespace",
        "grpc-go sequential Introspect p50 / tonic p50",
        "uncached Introspect throughput",
        "uncached Introspect / Check",
        "coalesced misses: SQL statements per uncached Introspect",
        "SQL statements per uncached Introspect",
        "SQL statements per Introspect with the cache off",
        "login flood at 2 × hashing capacity",
        "login flood: refused logins",
        "revoke on A, Introspect on B",
        "A accepts the token after its Revoke returned",
        "B accepts the token on its first Introspect after the Revoke on A returned",
        "Revoke duration on A",
        "B's listening connection killed",
        "Revoke of a tree of",
        "other tokens' cached Introspect p99 during the tree's revocation",
        "Revoke of 1000 token ids in one call",
    ] {
        assert!(report.row(prefix).is_some(), "no row {prefix:?}");
    }
    // Rows of other client languages, or the reason they could not run on this machine.
    for (rows, not_run) in [
        (
            &[
                "Python client (grpcio aio): cached Introspect",
                "Python client: CheckNamespace",
            ][..],
            "Python client rows",
        ),
        (
            &["HTTP forward-auth /auth/verify / edge ping"][..],
            "HTTP edge rows",
        ),
        (
            &["RFC 7662 POST /oauth2/introspect / edge ping"][..],
            "OAuth introspection rows",
        ),
    ] {
        let skipped = report.row(not_run);
        if let Some(skipped) = skipped {
            println!("{not_run}: {}", skipped.result);
        }
        for prefix in rows {
            assert!(
                report.row(prefix).is_some() || skipped.is_some(),
                "no row {prefix:?}"
            );
        }
    }
    for must_hold in [
        "SQL statements per uncached Introspect",
        "coalesced misses: SQL statements per uncached Introspect",
        "A accepts the token after its Revoke returned",
        "B accepts the token on its first Introspect after the Revoke on A returned",
        "B's listening connection killed",
        "Revoke of 1000 token ids in one call",
    ] {
        let row = report.row(must_hold).unwrap();
        assert_eq!(row.verdict, GoalVerdict::Met, "{row:?}");
    }
    let cache_off = report
        .row("SQL statements per Introspect with the cache off")
        .unwrap();
    assert_eq!(cache_off.result, "2.00", "{cache_off:?}");
    assert!(
        report.elapsed < Duration::from_secs(120),
        "smoke run took {:?}",
        report.elapsed
    );
}
