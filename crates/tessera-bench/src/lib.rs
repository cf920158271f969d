//! Tessera's load generator: proves (or disproves) issue 8's performance goals in one run.
//!
//! It starts its own PostgreSQL (embedded, with `pg_stat_statements`) and Tessera replicas (in this
//! process, each on its own runtime and connection pool, speaking gRPC over loopback TCP), then
//! measures every scenario as baseline and target interleaved (A B A B …, `rounds` times) and
//! reports medians and their ratios. See BENCHMARKS.md at the repository root for the scenarios.
//!
//! `--smoke` runs every scenario briefly to show the machinery works (CI runs it as a test); the
//! ratios worth quoting come from the full run: `cargo run --release -p tessera-bench`.
//!
//! `--soak 30m` instead runs issue 19's soak (see [`soak`]): steady load and churn for a long
//! time, sampled, with a verdict on what grows.
//!
//! `--scale` instead runs issue 33's scale scenario (see [`scale`]): the cold path, a Revoke by
//! account and the sweeper at 10⁴ against 10⁷ live tokens, and a replica's memory per cached entry.

// A scenario is a script read top to bottom (start, load, measure, report in the report's
// order): the bench's functions are exempt from the 80-line rule of production code.
#![allow(clippy::too_many_lines)]

pub mod cluster;
pub mod cpu;
pub mod load;
pub mod report;
mod scenarios;
pub mod soak;

use std::{path::PathBuf, time::Duration};

pub use report::{GoalVerdict, Report};
pub use scenarios::scale::{scale, ScaleOptions};

/// How hard and how long to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Smoke mode: every scenario, briefly.
    pub smoke: bool,
    /// Interleaved rounds of baseline and target (at least 3).
    pub rounds: usize,
    /// Length of one measured phase.
    pub phase: Duration,
    /// Unmeasured load before each scenario.
    pub warmup: Duration,
    /// Calls in flight in closed-loop phases (and pgbench clients).
    pub concurrency: usize,
    /// HTTP/2 connections per replica the calls are spread over.
    pub connections: usize,
    /// Revocations measured across replicas.
    pub revocations: usize,
    /// Times B's listening connection is killed.
    pub kill_trials: usize,
    /// Introspect calls whose SQL statements are counted.
    pub statement_calls: usize,
    /// Directory of the PostgreSQL binaries (default: found as `tessera dev` finds them).
    pub pg_bin: Option<PathBuf>,
    /// Run only these scenarios (empty: all): see [`SCENARIOS`]. For profiling one of them; the
    /// table then has only their rows.
    pub only: Vec<String>,
    /// Replicas' pools are production's (`tessera_store::connect_lazy`: a connection idle for a
    /// second or more is checked with a round trip before use). `false` never checks, only to
    /// measure what the remaining checks cost.
    pub pool_ping: bool,
    /// argon2 workers of the replicas (default: the server's default, half the cores).
    pub hash_workers: Option<usize>,
}

/// The scenario names `Options::only` accepts.
pub const SCENARIOS: &[&str] = &[
    "throughput",
    "latency",
    "clients",
    "python",
    "java",
    "node",
    "edge",
    "envoy",
    "oauth",
    "uncached",
    "flood",
    "revocation",
    "kill",
    "big",
    "tracing",
];

impl Options {
    /// The full run whose table goes into BENCHMARKS.md (a few minutes).
    pub fn full() -> Options {
        Options {
            smoke: false,
            rounds: 5,
            phase: Duration::from_secs(2),
            warmup: Duration::from_secs(1),
            concurrency: 16,
            connections: 4,
            revocations: 500,
            kill_trials: 5,
            statement_calls: 500,
            pg_bin: None,
            only: Vec::new(),
            pool_ping: true,
            hash_workers: None,
        }
    }

    /// Every scenario, briefly (well under a minute): shows the generator works, not the ratios.
    pub fn smoke() -> Options {
        Options {
            smoke: true,
            rounds: 3,
            phase: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            concurrency: 8,
            connections: 2,
            revocations: 30,
            kill_trials: 1,
            statement_calls: 50,
            pg_bin: None,
            only: Vec::new(),
            pool_ping: true,
            hash_workers: None,
        }
    }

    fn shape(&self) -> String {
        format!(
            "{} mode, {} interleaved rounds of {:?} phases, {} calls in flight over {} connections per replica, {} revocations, {} listener kills",
            if self.smoke { "smoke" } else { "full" },
            self.rounds,
            self.phase,
            self.concurrency,
            self.connections,
            self.revocations,
            self.kill_trials
        )
    }
}

/// Runs every scenario and returns the report. PostgreSQL and the replicas are stopped before it
/// returns, whatever happened.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.rounds >= 1, "--rounds must be at least 1");
    if let Some(unknown) = options
        .only
        .iter()
        .find(|s| !SCENARIOS.contains(&s.as_str()))
    {
        anyhow::bail!(
            "unknown scenario {unknown:?}; known: {}",
            SCENARIOS.join(", ")
        );
    }
    scenarios::run(options).await
}
