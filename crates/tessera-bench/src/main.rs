//! `tessera-bench`: runs every scenario of issue 8 and prints the table (Markdown) on stdout.
//!
//!     cargo run --release -p tessera-bench            # full run, a few minutes
//!     cargo run --release -p tessera-bench -- --smoke # every scenario briefly
//!     cargo run --release -p tessera-bench -- --soak 30m  # issue 19's soak

// A scenario is a script read top to bottom (start, load, measure, report in the report's
// order): the bench's functions are exempt from the 80-line rule of production code.
#![allow(clippy::too_many_lines)]

// The replicas run in this process: the allocator `tessera serve` uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use tessera_bench::Options;

/// Tessera's load generator: starts PostgreSQL and Tessera replicas, measures baseline and target
/// interleaved, prints one table of ratios with the environment.
#[derive(Debug, Parser)]
#[command(name = "tessera-bench", version, about)]
struct Args {
    /// Every scenario briefly (under a minute): proves the generator works, not the ratios.
    #[arg(long)]
    smoke: bool,
    /// Interleaved rounds of baseline and target (default 5; smoke 3).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds per measured phase (default 2).
    #[arg(long)]
    phase_secs: Option<f64>,
    /// Calls in flight in closed-loop phases, and pgbench clients (default 16).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Revocations in the cross-replica lag scenario (default 500).
    #[arg(long)]
    revocations: Option<usize>,
    /// Directory of the PostgreSQL binaries, pgbench included (default: as `tessera dev` finds them).
    #[arg(long, env = "TESSERA_PG_BIN")]
    pg_bin: Option<PathBuf>,
    /// Run only these scenarios (comma-separated): throughput, latency, clients, python, java,
    /// node, edge, envoy, oauth, uncached, flood, revocation, kill, big, tracing.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Experiment: replicas' pools never check a connection before use (production checks only
    /// connections idle for a second or more; see BENCHMARKS.md).
    #[arg(long)]
    no_pool_ping: bool,
    /// argon2 workers per replica (default: the server's default, half the cores).
    #[arg(long)]
    hash_workers: Option<usize>,
    /// Exit with status 2 when a goal is missed.
    #[arg(long)]
    strict: bool,
    /// Soak instead (issue 19) for this long, e.g. 30m: steady cached Introspect, issue/revoke
    /// churn and logins, sampled, with a verdict on what grows. With --smoke: the smoke soak's
    /// short TTLs, sweep interval and retentions.
    #[arg(long, value_name = "DURATION")]
    soak: Option<String>,
    /// Soak: one sample per this long (default 30s; smoke 10s).
    #[arg(long, value_name = "DURATION", requires = "soak")]
    sample_every: Option<String>,
    /// Soak: commits wait for the WAL flush, as in production (off by default: on a shared
    /// machine, others' disk writes stall the flushes and drown what the soak looks for).
    #[arg(long, requires = "soak")]
    synchronous_commit: bool,
    /// Scale instead (issue 33): seeds 10⁴ and 10⁷ live tokens (about 8 GB of disk and 5 minutes
    /// for the seeding) and measures uncached Introspect and CheckNamespace, a Revoke of an
    /// account's 10⁴ tokens and a sweeper pass at each size, then a replica's memory per cached
    /// entry at 10⁶ entries. With --smoke: 10³ against 10⁵ tokens.
    #[arg(long, conflicts_with = "soak")]
    scale: bool,
    /// Scale: PostgreSQL's shared_buffers, e.g. 6GB, or `default` for its 128MB (default: a
    /// quarter of the machine's memory, as PostgreSQL advises for a dedicated server).
    #[arg(long, value_name = "SIZE", requires = "scale")]
    shared_buffers: Option<String>,
}

/// Runs the soak of `args`; the exit status as for the scenarios.
async fn soak(args: &Args, duration: &str) -> anyhow::Result<bool> {
    let seconds = |flag: &str, text: &str| -> anyhow::Result<Duration> {
        let parsed =
            tessera_rules::ttl::parse_ttl(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
        Ok(Duration::from_secs(parsed.whole_seconds().max(1) as u64))
    };
    let duration = seconds("--soak", duration)?;
    let mut options = if args.smoke {
        tessera_bench::soak::SoakOptions {
            duration,
            ..tessera_bench::soak::SoakOptions::smoke()
        }
    } else {
        tessera_bench::soak::SoakOptions::full(duration)
    };
    if let Some(every) = &args.sample_every {
        options.sample_every = seconds("--sample-every", every)?;
    }
    options.pg_bin.clone_from(&args.pg_bin);
    options.synchronous_commit = args.synchronous_commit;
    let report = tessera_bench::soak::soak(options).await?;
    println!("{report}");
    let missed = report.report.missed();
    if !missed.is_empty() {
        eprintln!("tessera-bench: {} goal(s) missed", missed.len());
    }
    Ok(missed.is_empty())
}

/// The bench's own messages go to stderr (`TESSERA_BENCH_LOG`, default `warn`). The replicas run
/// in this process, so they also get the log layer `tessera serve` has by default (text at
/// `info`): its spans cost every call something, and a bench without it measured a cheaper server
/// than operators run. That layer's output is discarded.
/// Runs the scale scenario of `args`; the exit status as for the scenarios.
async fn scale(args: &Args) -> std::process::ExitCode {
    let mut options = if args.smoke {
        tessera_bench::ScaleOptions::smoke()
    } else {
        tessera_bench::ScaleOptions::full()
    };
    if let Some(rounds) = args.rounds {
        options.rounds = rounds.max(1);
    }
    if let Some(concurrency) = args.concurrency {
        options.concurrency = concurrency.max(1);
    }
    options.pg_bin.clone_from(&args.pg_bin);
    match args.shared_buffers.as_deref() {
        Some("default") => options.shared_buffers = None,
        Some(size) => options.shared_buffers = Some(size.to_owned()),
        None => {}
    }
    eprintln!("tessera-bench: scale run (seeding first; see --help for the disk it needs)");
    conclude(tessera_bench::scale(options).await, args.strict)
}

fn install_logs() {
    use tracing_subscriber::{layer::SubscriberExt as _, util::SubscriberInitExt as _, Layer as _};
    let own = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_BENCH_LOG")
                // sqlx warns of every statement over a second: the scale run's seeding is made of
                // them, on purpose.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx::query=error")),
        );
    let as_served = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::sink)
        .with_filter(tessera_telemetry::log_filter(
            tracing_subscriber::EnvFilter::new("info"),
        ));
    tracing_subscriber::registry()
        .with(own)
        .with(as_served)
        .init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    install_logs();
    if let Some(duration) = &args.soak {
        return match soak(&args, duration).await {
            Ok(met) if met || !args.strict => std::process::ExitCode::SUCCESS,
            Ok(_) => std::process::ExitCode::from(2),
            Err(err) => {
                eprintln!("tessera-bench: {err:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if args.scale {
        return scale(&args).await;
    }
    let mut options = if args.smoke {
        Options::smoke()
    } else {
        Options::full()
    };
    if let Some(rounds) = args.rounds {
        options.rounds = rounds;
    }
    if let Some(seconds) = args.phase_secs {
        options.phase = Duration::from_secs_f64(seconds.max(0.1));
    }
    if let Some(concurrency) = args.concurrency {
        options.concurrency = concurrency.max(1);
    }
    if let Some(revocations) = args.revocations {
        options.revocations = revocations.max(1);
    }
    options.pg_bin = args.pg_bin;
    options.only = args.only;
    options.pool_ping = !args.no_pool_ping;
    options.hash_workers = args.hash_workers;
    eprintln!("tessera-bench: {}", options_line(&options));
    conclude(tessera_bench::run(options).await, args.strict)
}

/// Prints a finished run's report; the exit status: 1 when it failed, 2 when a goal was missed
/// and `strict`, else 0.
fn conclude(
    outcome: anyhow::Result<tessera_bench::Report>,
    strict: bool,
) -> std::process::ExitCode {
    match outcome {
        Ok(report) => {
            println!("{report}");
            let missed = report.missed();
            if !missed.is_empty() {
                eprintln!("tessera-bench: {} goal(s) missed", missed.len());
                if strict {
                    return std::process::ExitCode::from(2);
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("tessera-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn options_line(options: &Options) -> String {
    format!(
        "{} run, {} rounds of {:?}",
        if options.smoke { "smoke" } else { "full" },
        options.rounds,
        options.phase
    )
}
