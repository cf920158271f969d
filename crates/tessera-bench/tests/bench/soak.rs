//! Issue 19's soak, for a minute, as CI runs it: every stream runs against a real PostgreSQL and a
//! real replica with its sweeper, every sample is taken, and the verdict holds its safety goals:
//! no token accepted after its Revoke returned, no call failed, and the revocation feed pruned to
//! within its retention bound. Performance ratios are reported but not asserted (a minute on a
//! busy CI machine proves nothing about them).

use std::time::Duration;

use tessera_bench::{soak::SoakOptions, GoalVerdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_minute_soak_samples_and_judges() {
    let _turn = super::one_at_a_time().await;
    let options = SoakOptions::smoke();
    let report = tessera_bench::soak::soak(options.clone())
        .await
        .expect("smoke soak");
    println!("{report}");
    let expected = (options.duration.as_secs() / options.sample_every.as_secs()) as usize;
    assert_eq!(report.samples.len(), expected, "one sample per interval");
    for sample in &report.samples {
        assert!(sample.window.introspects > 0, "{sample:?}");
        assert!(sample.memory.replica_rss > 0 && sample.memory.postgres_private > 0);
        assert_eq!(sample.tables.len(), 3, "{:?}", sample.tables);
    }
    let last = report.samples.last().unwrap();
    assert!(last.revokes_total > 0, "the churn revoked nothing");
    assert!(
        report.samples.iter().any(|s| s.window.logins > 0),
        "no login went through"
    );
    assert!(
        report.samples.iter().any(|s| s.window.lag_p99.is_some()),
        "the feed watcher paired no revocation"
    );
    // With a 15 s retention, a minute of churn leaves far fewer rows than it revoked.
    assert!(
        (last.revocation_rows as u64) < last.revokes_total,
        "the feed was never pruned: {} rows after {} revocations",
        last.revocation_rows,
        last.revokes_total
    );
    for prefix in [
        "issue/revoke cycle rate",
        "replica process RSS growth",
        "cached Introspect p99, last",
    ] {
        assert!(report.report.row(prefix).is_some(), "no row {prefix:?}");
    }
    for must_hold in [
        "revocations rows at the end",
        "tokens accepted after their revoke returned",
        "calls failed",
    ] {
        let row = report.report.row(must_hold).expect(must_hold);
        assert_eq!(row.verdict, GoalVerdict::Met, "{row:?}");
    }
    assert!(
        report.report.elapsed < Duration::from_secs(150),
        "the smoke soak took {:?}",
        report.report.elapsed
    );
}
