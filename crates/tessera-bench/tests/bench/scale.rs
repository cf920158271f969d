//! Issue 33's scale scenario at a toy size, as CI runs it: both databases are seeded, every
//! figure is produced, the Revoke by account revokes exactly that account's tokens, the sweeper
//! deletes exactly the expired ones, and the `tessera serve` process fills its cache. The sizes
//! are too small for the ratios to mean anything; only the mechanics are asserted.

use tessera_bench::{GoalVerdict, ScaleOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toy_scale_run_seeds_measures_revokes_sweeps_and_fills_a_cache() {
    let _turn = super::one_at_a_time().await;
    let options = ScaleOptions {
        small: 500,
        large: 5_000,
        per_user: 500,
        expired: 200,
        rounds: 1,
        calls: 100,
        sequential: 20,
        concurrency: 8,
        cached: 3_000,
        ..ScaleOptions::smoke()
    };
    let report = tessera_bench::scale(options).await.expect("scale run");
    println!("{report}");
    for prefix in [
        "uncached Introspect (8 in flight): p50",
        "uncached CheckNamespace",
        "uncached Introspect, one at a time",
        "one sweeper pass, 500",
        "one sweeper pass, 5000",
        "replica memory per cached entry",
    ] {
        assert!(report.row(prefix).is_some(), "no row {prefix:?}");
    }
    for size in ["500", "5000"] {
        let revoke = report
            .row(&format!("Revoke of one account's tokens, {size} live"))
            .expect("revoke row");
        assert_eq!(revoke.target, "500 tokens revoked", "{revoke:?}");
        let sweep = report
            .row(&format!("one sweeper pass, {size} live"))
            .expect("sweep row");
        assert_eq!(sweep.target, "200 expired tokens deleted", "{sweep:?}");
    }
    let memory = report.row("replica memory per cached entry").unwrap();
    assert_ne!(memory.verdict, GoalVerdict::Info, "{memory:?}");
    assert!(
        memory.scenario.contains(" entries"),
        "the cache was filled: {memory:?}"
    );
}
