//! The sweeper: deletes expired tokens, and prunes the revocation feed and the audit trail past
//! their retention, in batches, off the hot path (expiry is enforced at read time regardless; this
//! only keeps the tables small).
//!
//! Its pace follows the expiry rate: the batch grows while batches are quick and shrinks when one
//! is slow, and the wait between sweeps shrinks to what one batch can take at the current rate
//! (never below a second) and, when a sweep finds nothing, doubles back towards `--sweep-interval`.
//! The first sweep comes a second after start, not one interval later, so churn that begins with
//! the process is met within seconds instead of piling up for the first interval. So
//! short-lived tokens churning by the hundred per second leave a table a few seconds deep, not
//! five minutes of dead rows that every index scan wades through until autovacuum runs.

use std::time::{Duration, Instant};

use tessera_store::{audit, revocations, tokens as token_store, StoreError};
use tracing::{info, warn};

use crate::service::Authority;

/// Rows deleted per statement at start (the batch adapts between [`MIN_BATCH`] and [`MAX_BATCH`]).
pub const BATCH: i64 = 1000;
/// Smallest batch.
pub const MIN_BATCH: i64 = 100;
/// Largest batch.
pub const MAX_BATCH: i64 = 20_000;
/// A batch quicker than this doubles the next one.
const QUICK_BATCH: Duration = Duration::from_millis(25);
/// A batch slower than this halves the next one: each transaction stays short.
const SLOW_BATCH: Duration = Duration::from_millis(200);
/// Shortest wait between sweeps.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Most batches per table per sweep, so one sweep always ends.
const MAX_BATCHES: usize = 1000;

/// How long the feed and the audit trail are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Revocation feed entries older than this are pruned (WatchRevocations resuming from before
    /// them answers RESYNC_REQUIRED).
    pub revocations: time::Duration,
    /// Audit events older than this are deleted; `None` keeps them for ever.
    pub audit: Option<time::Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            revocations: time::Duration::days(7),
            audit: Some(time::Duration::days(90)),
        }
    }
}

/// Everything the sweeper needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweeperSettings {
    /// Longest wait between sweeps (`--sweep-interval`).
    pub max_interval: Duration,
    /// Retention of the feed and the audit trail.
    pub retention: Retention,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired tokens deleted.
    pub tokens: u64,
    /// Revocation feed entries pruned.
    pub revocations: u64,
    /// Audit events pruned.
    pub audit_events: u64,
    /// Whether expired tokens were left for the next sweep (it hit its batch limit).
    pub backlog: bool,
    /// Slowest token batch.
    pub slowest_batch: Duration,
}

/// The sweeper's adaptive pace: batch size and wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Rows per DELETE.
    pub batch: i64,
    max_interval: Duration,
    /// The wait chosen last (an idle sweep doubles it).
    wait: Duration,
}

impl Pace {
    /// Starts at [`BATCH`] rows, waiting at most `max_interval`.
    pub fn new(max_interval: Duration) -> Pace {
        Pace {
            batch: BATCH,
            max_interval: max_interval.max(MIN_INTERVAL),
            wait: MIN_INTERVAL,
        }
    }

    /// The wait before the first sweep: short, so expired rows left from before the start and
    /// churn that begins with the process are met at once; idle sweeps then back off.
    pub fn first_wait(&self) -> Duration {
        MIN_INTERVAL
    }

    /// Adapts to a sweep that deleted `report.tokens` expired tokens `since_last` after the
    /// previous one; returns how long to wait before the next.
    pub fn after(&mut self, report: &SweepReport, since_last: Duration) -> Duration {
        self.wait = self.next_wait(report, since_last);
        self.wait
    }

    fn next_wait(&mut self, report: &SweepReport, since_last: Duration) -> Duration {
        if report.slowest_batch > SLOW_BATCH {
            self.batch = (self.batch / 2).max(MIN_BATCH);
        } else if report.tokens >= self.batch as u64 && report.slowest_batch < QUICK_BATCH {
            self.batch = (self.batch * 2).min(MAX_BATCH);
        }
        if report.backlog {
            return MIN_INTERVAL;
        }
        if report.tokens == 0 {
            // Nothing expired: back off, doubling, to the configured interval.
            return (self.wait * 2).clamp(MIN_INTERVAL, self.max_interval);
        }
        // Tokens expire at about `rate` per second: come back when about one batch is due.
        let rate = report.tokens as f64 / since_last.as_secs_f64().max(0.001);
        let due = Duration::from_secs_f64((self.batch as f64 / rate).min(86_400.0));
        due.clamp(MIN_INTERVAL, self.max_interval)
    }
}

/// Deletes every token expired at the authority's `now`, batch by batch; returns how many.
pub async fn sweep_once(authority: &Authority) -> Result<u64, StoreError> {
    Ok(sweep(authority, BATCH, None).await?.tokens)
}

/// One sweep: expired tokens in batches of `batch`, then (with a retention) the feed and the audit
/// trail.
pub async fn sweep(
    authority: &Authority,
    batch: i64,
    retention: Option<&Retention>,
) -> Result<SweepReport, StoreError> {
    let now = authority.now();
    let pool = authority.pool();
    let mut report = SweepReport {
        backlog: true,
        ..SweepReport::default()
    };
    for _ in 0..MAX_BATCHES {
        let started = Instant::now();
        let deleted = token_store::sweep_expired(pool, now, batch).await?;
        report.slowest_batch = report.slowest_batch.max(started.elapsed());
        report.tokens += deleted;
        if deleted < batch as u64 {
            report.backlog = false;
            break;
        }
    }
    let Some(retention) = retention else {
        return Ok(report);
    };
    // Followers whose lease ended an hour ago stopped or were replaced; no Revoke waits for them.
    tessera_store::leases::sweep(pool, now - time::Duration::hours(1)).await?;
    for _ in 0..MAX_BATCHES {
        let deleted = revocations::prune(pool, now - retention.revocations, MAX_BATCH).await?;
        report.revocations += deleted;
        if deleted < MAX_BATCH as u64 {
            break;
        }
    }
    if let Some(keep) = retention.audit {
        for _ in 0..MAX_BATCHES {
            let deleted = audit::prune(pool, now - keep, MAX_BATCH).await?;
            report.audit_events += deleted;
            if deleted < MAX_BATCH as u64 {
                break;
            }
        }
    }
    Ok(report)
}

/// Sweeps in the background at the adaptive pace, the first sweep a second from now.
pub fn spawn(authority: Authority, settings: SweeperSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pace = Pace::new(settings.max_interval);
        let mut wait = pace.first_wait();
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(wait).await;
            let since_last = last.elapsed();
            last = Instant::now();
            match sweep(&authority, pace.batch, Some(&settings.retention)).await {
                Ok(report) => {
                    wait = pace.after(&report, since_last);
                    if report.tokens + report.revocations + report.audit_events > 0 {
                        info!(
                            tokens = report.tokens,
                            revocations = report.revocations,
                            audit_events = report.audit_events,
                            batch = pace.batch,
                            next_in_ms = wait.as_millis() as u64,
                            "swept"
                        );
                    }
                }
                Err(err) => {
                    wait = pace.max_interval;
                    warn!(error = %err, "sweeping failed; retrying next interval");
                }
            }
        }
    })
}

/// The feed must outlive every token this configuration hands out (sessions, unlocks, issued
/// tokens without a TTL of their own), unless the operator accepts that watchers further behind
/// than the retention start again from scratch (RESYNC_REQUIRED).
pub fn check_revocation_retention(
    retention: time::Duration,
    auth: &crate::settings::AuthSettings,
    accept_resync: bool,
) -> anyhow::Result<()> {
    let longest = longest_lifetime(auth);
    if retention < longest && !accept_resync {
        anyhow::bail!(
            "--revocation-retention (TESSERA_REVOCATION_RETENTION): {}s is shorter than the longest token lifetime this server hands out ({}s, from --session-ttl, --default-token-ttl and --unlock-ttl-cap); raise it, or pass --revocation-retention-resync to accept that watchers further behind than the retention must resync",
            retention.whole_seconds(),
            longest.whole_seconds()
        );
    }
    Ok(())
}

/// The longest lifetime this configuration gives a token by itself.
pub fn longest_lifetime(auth: &crate::settings::AuthSettings) -> time::Duration {
    auth.session_ttl
        .max(auth.default_token_ttl)
        .max(auth.unlock_ttl_cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tokens: u64, slowest_ms: u64, backlog: bool) -> SweepReport {
        SweepReport {
            tokens,
            slowest_batch: Duration::from_millis(slowest_ms),
            backlog,
            ..SweepReport::default()
        }
    }

    #[test]
    fn an_idle_table_backs_off_from_a_second_to_the_configured_interval() {
        let mut pace = Pace::new(Duration::from_secs(300));
        assert_eq!(pace.first_wait(), MIN_INTERVAL);
        let waits: Vec<u64> = (0..10)
            .map(|_| {
                pace.after(&report(0, 1, false), Duration::from_secs(1))
                    .as_secs()
            })
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(pace.batch, BATCH);
        // Churn starting later is met at its rate, and the back-off starts again from there.
        let wait = pace.after(&report(6_000, 10, false), Duration::from_secs(30));
        assert_eq!(wait, Duration::from_secs(10));
        let wait = pace.after(&report(0, 1, false), Duration::from_secs(10));
        assert_eq!(wait, Duration::from_secs(20));
    }

    #[test]
    fn churn_brings_the_next_sweep_forward_to_about_one_batch() {
        let mut pace = Pace::new(Duration::from_secs(300));
        // 200 tokens a second expiring: 1000 are due every 5 s.
        let wait = pace.after(&report(60_000, 10, false), Duration::from_secs(300));
        assert_eq!(pace.batch, 2 * BATCH, "quick full batches grow");
        assert_eq!(wait, Duration::from_secs(10));
        // A trickle waits long, but never longer than configured.
        let wait = pace.after(&report(3, 1, false), Duration::from_secs(10));
        assert_eq!(wait, Duration::from_secs(300));
    }

    #[test]
    fn a_backlog_comes_back_soon_and_slow_batches_shrink() {
        let mut pace = Pace::new(Duration::from_secs(300));
        let wait = pace.after(&report(1_000_000, 500, true), Duration::from_secs(300));
        assert_eq!(wait, MIN_INTERVAL);
        assert_eq!(pace.batch, BATCH / 2);
        for _ in 0..20 {
            pace.after(&report(1_000_000, 500, true), Duration::from_secs(1));
        }
        assert_eq!(pace.batch, MIN_BATCH);
        for _ in 0..20 {
            pace.after(&report(1_000_000, 1, true), Duration::from_secs(1));
        }
        assert_eq!(pace.batch, MAX_BATCH);
    }

    #[test]
    fn a_short_revocation_retention_needs_consent() {
        let auth = crate::settings::AuthSettings::default(); // 12 h sessions
        let err = check_revocation_retention(time::Duration::hours(1), &auth, false).unwrap_err();
        assert!(err.to_string().contains("--revocation-retention"), "{err}");
        check_revocation_retention(time::Duration::hours(1), &auth, true).unwrap();
        check_revocation_retention(time::Duration::days(7), &auth, false).unwrap();
    }
}
