//! What a soak sample measures: the streams' windows, process memory from `/proc`, and table
//! sizes from PostgreSQL's statistics.

use std::{fmt, time::Duration};

use hdrhistogram::Histogram;
use tessera_store::PgPool;
use tonic::Status;

use super::SoakSample;
use crate::{
    load::CallResult,
    report::{ms, rate},
};

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid histogram bounds")
}

fn nanos(latency: Duration) -> u64 {
    u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX)
}

/// What the streams did during one window.
#[derive(Debug, Clone)]
pub struct Window {
    /// Length of the window.
    pub elapsed: Duration,
    /// Latencies of successful cached Introspects (from their scheduled send time).
    pub introspect: Histogram<u64>,
    /// Introspects that failed.
    pub introspect_errors: u64,
    /// Latencies of complete issue/revoke cycles.
    pub cycle: Histogram<u64>,
    /// Complete cycles.
    pub cycles: u64,
    /// Cycles that failed.
    pub cycle_errors: u64,
    /// Successful logins.
    pub logins: u64,
    /// Logins that failed.
    pub login_errors: u64,
    /// From Revoke returning to the feed watcher receiving the revocation.
    pub lag: Histogram<u64>,
    /// The first failure of the window.
    pub first_error: Option<String>,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            elapsed: Duration::ZERO,
            introspect: histogram(),
            introspect_errors: 0,
            cycle: histogram(),
            cycles: 0,
            cycle_errors: 0,
            logins: 0,
            login_errors: 0,
            lag: histogram(),
            first_error: None,
        }
    }
}

impl Window {
    fn failed(&mut self, what: &str, status: &Status) {
        if self.first_error.is_none() {
            self.first_error = Some(format!("{what}: {:?}: {}", status.code(), status.message()));
        }
    }

    /// Records one cached Introspect.
    pub fn introspect(&mut self, result: &CallResult, latency: Duration) {
        match result {
            Ok(()) => self.introspect.saturating_record(nanos(latency)),
            Err(status) => {
                self.introspect_errors += 1;
                self.failed("Introspect", status);
            }
        }
    }

    /// Records one issue/revoke cycle.
    pub fn cycle(&mut self, result: &CallResult, latency: Duration) {
        match result {
            Ok(()) => {
                self.cycles += 1;
                self.cycle.saturating_record(nanos(latency));
            }
            Err(status) => {
                self.cycle_errors += 1;
                self.failed("issue/revoke cycle", status);
            }
        }
    }

    /// Records one login.
    pub fn login(&mut self, result: CallResult) {
        match result {
            Ok(()) => self.logins += 1,
            Err(status) => {
                self.login_errors += 1;
                self.failed("Login", &status);
            }
        }
    }

    /// Records feed lags.
    pub fn lags(&mut self, lags: &[Duration]) {
        for lag in lags {
            self.lag.saturating_record(nanos(*lag));
        }
    }

    /// Failed calls of every stream.
    pub fn errors(&self) -> u64 {
        self.introspect_errors + self.cycle_errors + self.login_errors
    }

    /// Introspect p99.
    pub fn introspect_p99(&self) -> Duration {
        Duration::from_nanos(self.introspect.value_at_quantile(0.99))
    }

    /// Cycle p99.
    pub fn cycle_p99(&self) -> Duration {
        Duration::from_nanos(self.cycle.value_at_quantile(0.99))
    }

    /// Feed lag p99, when a revocation was paired in the window.
    pub fn lag_p99(&self) -> Option<Duration> {
        (!self.lag.is_empty()).then(|| Duration::from_nanos(self.lag.value_at_quantile(0.99)))
    }
}

/// What a window came to, without its histograms: a long soak keeps one per sample, and
/// histograms (~140 KB each) kept for every sample would grow the very RSS the soak watches.
#[derive(Debug, Clone, Default)]
pub struct WindowSummary {
    /// Length of the window.
    pub elapsed: Duration,
    /// Successful cached Introspects.
    pub introspects: u64,
    /// Their p99.
    pub introspect_p99: Duration,
    /// Complete issue/revoke cycles.
    pub cycles: u64,
    /// Their p99.
    pub cycle_p99: Duration,
    /// Successful logins.
    pub logins: u64,
    /// Failed calls of every stream.
    pub errors: u64,
    /// Feed lag p99, when a revocation was paired in the window.
    pub lag_p99: Option<Duration>,
    /// The first failure of the window.
    pub first_error: Option<String>,
}

impl WindowSummary {
    fn per_second(&self, count: u64) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            count as f64 / self.elapsed.as_secs_f64()
        }
    }

    /// Successful Introspects per second.
    pub fn introspect_rate(&self) -> f64 {
        self.per_second(self.introspects)
    }

    /// Complete cycles per second.
    pub fn cycle_rate(&self) -> f64 {
        self.per_second(self.cycles)
    }
}

impl Window {
    /// The figures of this window.
    pub fn summary(&self) -> WindowSummary {
        WindowSummary {
            elapsed: self.elapsed,
            introspects: self.introspect.len(),
            introspect_p99: self.introspect_p99(),
            cycles: self.cycles,
            cycle_p99: self.cycle_p99(),
            logins: self.logins,
            errors: self.errors(),
            lag_p99: self.lag_p99(),
            first_error: self.first_error.clone(),
        }
    }
}

/// Cached Introspect latencies of the first and the last sixth of the run, merged as they come.
pub struct Spans {
    early: Histogram<u64>,
    late: Histogram<u64>,
    /// Windows in each span.
    per_span: usize,
    total: usize,
}

impl Spans {
    /// Spans of a sixth (at least one window) of `total` windows.
    pub fn new(total: usize) -> Spans {
        Spans {
            early: histogram(),
            late: histogram(),
            per_span: (total / 6).max(1),
            total,
        }
    }

    /// Adds window number `index` (from 0) where it belongs.
    pub fn add(&mut self, index: usize, window: &Window) {
        if index < self.per_span {
            let _ = self.early.add(&window.introspect);
        }
        if index + self.per_span >= self.total {
            let _ = self.late.add(&window.introspect);
        }
    }

    /// p99 of the first and of the last span.
    pub fn p99s(&self) -> Option<(Duration, Duration)> {
        let p99 = |h: &Histogram<u64>| Duration::from_nanos(h.value_at_quantile(0.99));
        (!self.early.is_empty() && !self.late.is_empty())
            .then(|| (p99(&self.early), p99(&self.late)))
    }

    /// Windows in each span.
    pub fn windows(&self) -> usize {
        self.per_span
    }
}

/// Resident memory, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessMemory {
    /// RSS of this process, which hosts the replica (and the load generator).
    pub replica_rss: u64,
    /// Private (anonymous) memory of the postmaster and its children, summed.
    pub postgres_private: u64,
    /// Shared memory touched by the most-touching PostgreSQL process (shared buffers).
    pub postgres_shared: u64,
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
fn status_field(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The parent of `pid`, from `/proc/<pid>/stat` (whose second field may hold spaces).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

impl ProcessMemory {
    /// Reads this process and `postmaster` with its children.
    pub fn read(postmaster: Option<u32>) -> ProcessMemory {
        let own = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let mut memory = ProcessMemory {
            replica_rss: status_field(&own, "VmRSS"),
            ..ProcessMemory::default()
        };
        let Some(postmaster) = postmaster else {
            return memory;
        };
        let children = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| parent_of(*pid) == Some(postmaster));
        for pid in std::iter::once(postmaster).chain(children) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            memory.postgres_private += status_field(&status, "RssAnon");
            memory.postgres_shared = memory
                .postgres_shared
                .max(status_field(&status, "RssShmem"));
        }
        memory
    }
}

/// One table's size and tuples, from `pg_stat_user_tables`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TableSize {
    /// Table name.
    pub name: String,
    /// Live tuples (estimated by PostgreSQL's statistics).
    pub live: i64,
    /// Dead tuples waiting for vacuum.
    pub dead: i64,
    /// Heap (with TOAST) bytes.
    pub table_bytes: i64,
    /// Bytes of all its indexes.
    pub index_bytes: i64,
}

impl fmt::Display for TableSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} live / {} dead, table {:.2} MB + indexes {:.2} MB",
            self.name,
            self.live,
            self.dead,
            self.table_bytes as f64 / 1e6,
            self.index_bytes as f64 / 1e6
        )
    }
}

/// The three growing tables, and the exact row count of `revocations`.
pub async fn tables(pool: &PgPool) -> anyhow::Result<(Vec<TableSize>, i64)> {
    let tables = sqlx::query_as::<_, TableSize>(
        "SELECT relname::text AS name, n_live_tup AS live, n_dead_tup AS dead,
                pg_table_size(relid) AS table_bytes, pg_indexes_size(relid) AS index_bytes
         FROM pg_stat_user_tables
         WHERE relname IN ('tokens', 'revocations', 'audit_events')
         ORDER BY relname DESC",
    )
    .fetch_all(pool)
    .await?;
    let (revocations,): (i64,) = sqlx::query_as("SELECT count(*) FROM revocations")
        .fetch_one(pool)
        .await?;
    Ok((tables, revocations))
}

/// One line per sample on stderr, so a long run shows it is alive.
pub fn progress_line(sample: &SoakSample) -> String {
    let w = &sample.window;
    format!(
        "t={:.0}s introspect {} p99 {} cycles {} logins {} errors {} rss {:.1} MB revocations {}",
        sample.at.as_secs_f64(),
        rate(w.introspect_rate()),
        ms(w.introspect_p99),
        rate(w.cycle_rate()),
        w.logins,
        w.errors,
        sample.memory.replica_rss as f64 / 1e6,
        sample.revocation_rows
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_a_parent() {
        let memory = ProcessMemory::read(None);
        assert!(memory.replica_rss > 1_000_000, "{memory:?}");
        let me = std::process::id();
        assert!(parent_of(me).is_some_and(|parent| parent > 0));
    }

    #[test]
    fn spans_take_the_first_and_last_sixth() {
        let mut spans = Spans::new(12);
        assert_eq!(spans.windows(), 2);
        for index in 0..12 {
            let mut window = Window::default();
            let latency = if index < 2 {
                1
            } else if index >= 10 {
                3
            } else {
                100
            };
            window.introspect(&Ok(()), Duration::from_millis(latency));
            spans.add(index, &window);
        }
        let (early, late) = spans.p99s().unwrap();
        assert!(early < Duration::from_millis(2), "{early:?}");
        assert!(
            late >= Duration::from_millis(3) && late < Duration::from_millis(4),
            "{late:?}"
        );
    }

    #[test]
    fn windows_count_rates_and_failures() {
        let mut window = Window {
            elapsed: Duration::from_secs(2),
            ..Window::default()
        };
        for _ in 0..10 {
            window.introspect(&Ok(()), Duration::from_millis(1));
            window.cycle(&Ok(()), Duration::from_millis(5));
        }
        window.introspect(&Err(Status::unavailable("down")), Duration::ZERO);
        window.login(Ok(()));
        assert_eq!(window.errors(), 1);
        assert!(window
            .first_error
            .as_deref()
            .unwrap()
            .contains("Introspect"));
        assert!(window.lag_p99().is_none());
        window.lags(&[Duration::from_millis(3)]);
        assert!(window.lag_p99().unwrap() >= Duration::from_millis(3));
        let summary = window.summary();
        assert_eq!(
            (summary.introspects, summary.cycles, summary.errors),
            (10, 10, 1)
        );
        assert_eq!(summary.introspect_rate(), 5.0);
        assert_eq!(summary.cycle_rate(), 5.0);
    }
}
