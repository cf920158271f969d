//! Scale mode (issue 33): what the cold path, a Revoke by account and the sweeper cost as `tokens`
//! grows, and what one cached entry costs a replica.
//!
//! Two databases in one PostgreSQL are seeded server-side (`INSERT … SELECT generate_series`, in
//! transactions of a million rows): a small one (10⁴ live tokens) and a large one (10⁷). Every
//! account owns `per_user` tokens, so revoking one account touches as many rows at either size.
//! The seeded tokens' secrets are `tessera-scale-<i>` (arbitrary text, as a static token from a
//! TOML file has), read by the hash of their text like any other token; each measured call takes
//! one never read before, scattered over the table, so every call misses the replica's cache and
//! reads an index leaf and a heap page PostgreSQL has not touched for it yet. A replica per
//! database answers, and the sizes take turns round by round.
//!
//! Then a `tessera serve` process (the binary beside this one) fills its cache with `cached`
//! entries, and its resident memory before and after gives the cost of one entry.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use sqlx::Executor as _;
use tessera_proto::v1 as pb;
use tessera_rules::token::{TokenKind, TokenSecret};
use tessera_server::settings::AuthSettings;
use tessera_store::PgPool;

use super::{
    big_revocations::store_admin, check_namespace, introspect, CallFuture, CallerToken, Clients,
    Supply,
};
use crate::{
    cluster::{metric, scrape, Postgres, Replica, ReplicaConfig},
    load::{closed_loop, Sample},
    report::{load_average, ms, rate, Environment, GoalVerdict, Report, Row},
};

/// Sizes, calls and the cache fill of one scale run.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// Live tokens in the small database.
    pub small: u64,
    /// Live tokens in the large database.
    pub large: u64,
    /// Tokens per account (the Revoke by account revokes this many).
    pub per_user: u64,
    /// Expired tokens beside the live ones, the same number at both sizes (one sweeper pass
    /// deletes them).
    pub expired: u64,
    /// Rounds; each measures both sizes, in alternating order.
    pub rounds: usize,
    /// Fresh tokens per measured phase at 16 in flight (one phase per call kind, size and round).
    pub calls: usize,
    /// Fresh tokens per sequential (one in flight) phase.
    pub sequential: usize,
    /// Calls in flight.
    pub concurrency: usize,
    /// Entries the `tessera serve` process caches for the memory figure.
    pub cached: u64,
    /// Directory of the PostgreSQL binaries (default: found as `tessera dev` finds them).
    pub pg_bin: Option<PathBuf>,
    /// PostgreSQL's `shared_buffers` (`None`: its default, 128 MB). PostgreSQL's own guidance
    /// for a dedicated server is a quarter of the memory; see [`quarter_of_memory`].
    pub shared_buffers: Option<String>,
}

/// A quarter of this machine's memory, as a `shared_buffers` value (PostgreSQL's guidance for a
/// dedicated database server).
pub fn quarter_of_memory() -> Option<String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(format!("{}MB", kb / 4 / 1024))
}

impl ScaleOptions {
    /// Issue 33's run: 10⁴ against 10⁷ live tokens, 10⁴ per account, 10⁶ cached entries.
    pub fn full() -> ScaleOptions {
        ScaleOptions {
            small: 10_000,
            large: 10_000_000,
            per_user: 10_000,
            expired: 5_000,
            rounds: 5,
            calls: 600,
            sequential: 200,
            concurrency: 16,
            cached: 1_000_000,
            pg_bin: None,
            shared_buffers: quarter_of_memory(),
        }
    }

    /// The same steps at 10³ against 10⁵ tokens and 2·10⁴ cached entries (a minute): proves the
    /// mechanics, not the figures.
    pub fn smoke() -> ScaleOptions {
        ScaleOptions {
            small: 1_000,
            large: 100_000,
            per_user: 1_000,
            expired: 500,
            rounds: 3,
            calls: 100,
            sequential: 30,
            concurrency: 16,
            cached: 20_000,
            pg_bin: None,
            shared_buffers: None,
        }
    }

    fn shape(&self) -> String {
        format!(
            "scale: {} vs {} live tokens ({} per account, {} expired beside them); {} rounds of {} fresh tokens per phase at {} in flight and {} one at a time; {} cached entries for the memory figure; PostgreSQL shared_buffers {}",
            self.small,
            self.large,
            self.per_user,
            self.expired,
            self.rounds,
            self.calls,
            self.concurrency,
            self.sequential,
            self.cached,
            self.shared_buffers.as_deref().unwrap_or("128MB (default)")
        )
    }
}

/// The secret of seeded token `i` (its row holds the SHA-256 of this text).
fn secret(i: u64) -> String {
    format!("tessera-scale-{i}")
}

/// Account `u`'s id: fixed, so the seed and the Revoke agree without a query.
fn account(u: u64) -> String {
    format!("00000000-0000-4000-8000-{u:012x}")
}

/// Rows per seeding transaction.
const SEED_CHUNK: u64 = 1_000_000;

/// Identifiers per CheckNamespace.
const IDENTIFIERS: usize = 10;

/// One seeded database.
struct Seeded {
    name: String,
    size: u64,
    pool: PgPool,
    took: Duration,
    /// `pg_total_relation_size('tokens')` after seeding.
    table_bytes: i64,
    /// The database's size after seeding.
    database_bytes: i64,
    /// Next unread token in the scattered order.
    next: AtomicUsize,
}

impl Seeded {
    /// `count` token secrets never read before, scattered over the table: a stride prime to the
    /// size walks every row once before it repeats.
    fn fresh(&self, count: usize) -> anyhow::Result<Vec<String>> {
        Ok(self.fresh_indices(count)?.into_iter().map(secret).collect())
    }

    /// The seeded indices behind [`Seeded::fresh`].
    fn fresh_indices(&self, count: usize) -> anyhow::Result<Vec<u64>> {
        const STRIDE: u64 = 7_919;
        let start = self.next.fetch_add(count, Ordering::Relaxed) as u64;
        anyhow::ensure!(
            start + count as u64 <= self.size,
            "{}: only {} tokens, and {} were asked for",
            self.name,
            self.size,
            start + count as u64
        );
        Ok((start..start + count as u64)
            .map(|k| (k * STRIDE + 17) % self.size)
            .collect())
    }
}

/// Creates and seeds database `name` with `size` live tokens and `expired` expired ones.
async fn seed(
    postgres: &Postgres,
    name: &str,
    size: u64,
    options: &ScaleOptions,
) -> anyhow::Result<Seeded> {
    anyhow::ensure!(
        !size.is_multiple_of(7_919) && options.per_user > 0,
        "a size must be prime to the stride 7919, and accounts must own tokens"
    );
    postgres.ensure_database(name).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&postgres.url(name, "tessera-bench-scale"))
        .await?;
    tessera_store::migrate(&pool).await?;
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    // Seeding only: production commits wait for the flush; the measured calls below do too.
    conn.execute("SET synchronous_commit = off").await?;
    let accounts = size.div_ceil(options.per_user);
    sqlx::query(
        "INSERT INTO users (id, username, display_name, role, password_hash, created_at)
         SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(u), 12, '0'))::uuid,
                'scale-' || u, '', 'user', '!', now()
         FROM generate_series(0::bigint, $1 - 1) AS u",
    )
    .bind(i64::try_from(accounts)?)
    .execute(&mut *conn)
    .await?;
    let mut low = 0;
    while low < size {
        let high = (low + SEED_CHUNK).min(size);
        sqlx::query(
            "INSERT INTO tokens (id, hash, kind, subject, namespace, permissions, description,
                                 issued_at, expires_at, generation)
             SELECT gen_random_uuid(), sha256(convert_to('tessera-scale-' || i, 'UTF8')), 'api',
                    ('00000000-0000-4000-8000-' || lpad(to_hex(i / $3), 12, '0'))::uuid,
                    'deploy.', '{read,write}', 'tessera-bench scale', now(),
                    now() + interval '30 days', 0
             FROM generate_series($1::bigint, $2 - 1) AS i",
        )
        .bind(i64::try_from(low)?)
        .bind(i64::try_from(high)?)
        .bind(i64::try_from(options.per_user)?)
        .execute(&mut *conn)
        .await?;
        low = high;
    }
    sqlx::query(
        "INSERT INTO tokens (id, hash, kind, namespace, permissions, description, issued_at,
                             expires_at)
         SELECT gen_random_uuid(), sha256(convert_to('tessera-scale-expired-' || i, 'UTF8')),
                'api', 'deploy.', '{read}', 'tessera-bench scale', now() - interval '2 hours',
                now() - interval '1 hour'
         FROM generate_series(0::bigint, $1 - 1) AS i",
    )
    .bind(i64::try_from(options.expired)?)
    .execute(&mut *conn)
    .await?;
    // As autovacuum leaves a table that has settled: statistics, visibility map, hint bits.
    conn.execute("VACUUM (ANALYZE) tokens").await?;
    conn.execute("VACUUM (ANALYZE) users").await?;
    conn.execute("CHECKPOINT").await?;
    let (table_bytes, database_bytes): (i64, i64) = sqlx::query_as(
        "SELECT pg_total_relation_size('tokens'), pg_database_size(current_database())",
    )
    .fetch_one(&mut *conn)
    .await?;
    drop(conn);
    Ok(Seeded {
        name: name.to_owned(),
        size,
        pool,
        took: started.elapsed(),
        table_bytes,
        database_bytes,
        next: AtomicUsize::new(0),
    })
}

/// Stores the calling service's token (cached by its replica from the first call on).
async fn store_caller(pool: &PgPool) -> anyhow::Result<String> {
    let secret = TokenSecret::generate(TokenKind::Service);
    sqlx::query(
        "INSERT INTO tokens (id, hash, kind, namespace, permissions, description, issued_at,
                             expires_at)
         VALUES (gen_random_uuid(), $1, 'service', '*', '{introspect}', 'tessera-bench scale',
                 now(), now() + interval '1 day')",
    )
    .bind(&secret.hash().as_bytes()[..])
    .execute(pool)
    .await?;
    Ok(secret.expose().to_owned())
}

/// One size under measurement: its database, replica and clients.
struct Target {
    seeded: Seeded,
    replica: Replica,
    clients: Arc<Clients>,
    caller: CallerToken,
    admin: String,
}

/// What one size measured, round by round.
#[derive(Default)]
struct Figures {
    introspect_p50: Vec<f64>,
    introspect_rate: Vec<f64>,
    namespace_p50: Vec<f64>,
    namespace_rate: Vec<f64>,
    sequential_p50: Vec<f64>,
    revoke: Option<(Duration, u64)>,
    sweep: Option<(Duration, u64)>,
}

fn micros(sample: &Sample) -> f64 {
    sample.ok_quantile(0.5).as_secs_f64() * 1e6
}

impl Target {
    async fn phase(
        &self,
        concurrency: usize,
        count: usize,
        namespace: bool,
    ) -> anyhow::Result<Sample> {
        let supply = Arc::new(Supply {
            tokens: self.seeded.fresh(count)?,
            next: AtomicUsize::new(0),
        });
        let (clients, caller) = (Arc::clone(&self.clients), self.caller.clone());
        let identifiers: Arc<Vec<String>> = Arc::new(
            (0..IDENTIFIERS)
                .map(|i| format!("deploy.service-{i}"))
                .collect(),
        );
        let sample = closed_loop(concurrency, Duration::from_secs(60), move |worker, _| {
            let token = supply.take()?;
            let client = clients.auth(worker);
            Some(if namespace {
                Box::pin(check_namespace(
                    client,
                    caller.clone(),
                    token,
                    Arc::clone(&identifiers),
                )) as CallFuture
            } else {
                Box::pin(introspect(client, caller.clone(), token)) as CallFuture
            })
        })
        .await;
        anyhow::ensure!(
            sample.errors == 0 && !sample.ok.is_empty(),
            "{}: {} calls failed, first: {}",
            self.seeded.name,
            sample.errors,
            sample.first_error.as_deref().unwrap_or("none succeeded")
        );
        Ok(sample)
    }

    /// Revokes every token of account 0 as an admin would; (time to the answer, tokens revoked).
    async fn revoke_account(&self) -> anyhow::Result<(Duration, u64)> {
        let admin = CallerToken::new(&self.admin)?;
        let started = Instant::now();
        let answer = self
            .clients
            .auth(0)
            .revoke(admin.request(pb::RevokeRequest {
                target: Some(pb::revoke_request::Target::Subject(account(0))),
                reason: "tessera-bench scale".into(),
                no_wait: false,
            }))
            .await
            .context("Revoke of account 0")?
            .into_inner();
        Ok((started.elapsed(), answer.revoked_count))
    }
}

/// Runs the scale scenario. PostgreSQL, the replicas and the `tessera serve` process are stopped
/// before it returns, whatever happened.
pub async fn scale(options: ScaleOptions) -> anyhow::Result<Report> {
    let started = Instant::now();
    let postgres = Postgres::start_with(
        options.pg_bin.as_deref(),
        None,
        options.shared_buffers.as_deref(),
    )
    .await?;
    let result = run(&postgres, &options).await;
    let stopped = postgres.stop().await;
    let mut report = result?;
    stopped.context("stopping postgresql")?;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn run(postgres: &Postgres, options: &ScaleOptions) -> anyhow::Result<Report> {
    let mut environment = Environment::detect(postgres.version.clone(), options.shape());
    let (mut rows, mut details) = (Vec::new(), Vec::new());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut targets = Vec::new();
    for (name, size) in [
        ("scale_small", options.small),
        ("scale_large", options.large),
    ] {
        let seeded = seed(postgres, name, size, options).await?;
        details.push(format!(
            "{name}: {size} live + {} expired tokens seeded in {:.1} s; tokens table with its indexes {:.1} MB, database {:.1} MB",
            options.expired,
            seeded.took.as_secs_f64(),
            seeded.table_bytes as f64 / 1e6,
            seeded.database_bytes as f64 / 1e6
        ));
        let caller = store_caller(&seeded.pool).await?;
        let admin = store_admin(&seeded.pool).await?;
        let replica = Replica::start(
            postgres.url(name, name),
            ReplicaConfig {
                name: name.replace('_', "-"),
                auth: AuthSettings::default(),
                threads: cores,
                test_before_acquire: true,
            },
        )
        .await?;
        let clients = Clients::connect(&replica, 4).await?;
        targets.push(Target {
            seeded,
            replica,
            clients,
            caller: CallerToken::new(&caller)?,
            admin,
        });
    }
    let outcome = measure(options, &targets, &mut rows, &mut details).await;
    let memory = match outcome {
        Ok(()) => cache_memory(postgres, options, &targets[1]).await,
        Err(err) => Err(err),
    };
    for target in targets {
        target.seeded.pool.close().await;
        target.replica.stop().await;
    }
    let (before, after, entries) = memory?;
    let per_entry = (after.saturating_sub(before)) as f64 / entries.max(1) as f64;
    rows.push(Row {
        scenario: format!(
            "replica memory per cached entry ({entries} entries, RSS of `tessera serve`)"
        ),
        baseline: format!("RSS {:.1} MB", before as f64 / 1e6),
        target: format!("RSS {:.1} MB", after as f64 / 1e6),
        result: format!("{per_entry:.0} B"),
        goal: "≤ 400 B".into(),
        verdict: verdict(per_entry <= 400.0),
    });
    environment.load_after = load_average();
    Ok(Report {
        environment,
        rows,
        details,
        elapsed: Duration::ZERO,
    })
}

fn verdict(met: bool) -> GoalVerdict {
    if met {
        GoalVerdict::Met
    } else {
        GoalVerdict::Missed
    }
}

async fn measure(
    options: &ScaleOptions,
    targets: &[Target],
    rows: &mut Vec<Row>,
    details: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut figures: Vec<Figures> = targets.iter().map(|_| Figures::default()).collect();
    // Each replica's own token is cached before anything is measured.
    for target in targets {
        introspect(target.clients.auth(0), target.caller.clone(), secret(0))
            .await
            .map_err(|status| {
                anyhow::anyhow!("{}: first Introspect: {status}", target.seeded.name)
            })?;
    }
    for round in 0..options.rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for &i in &order {
            let sample = targets[i]
                .phase(options.concurrency, options.calls, false)
                .await?;
            figures[i].introspect_p50.push(micros(&sample));
            figures[i].introspect_rate.push(sample.throughput());
        }
        for &i in &order {
            let sample = targets[i]
                .phase(options.concurrency, options.calls, true)
                .await?;
            figures[i].namespace_p50.push(micros(&sample));
            figures[i].namespace_rate.push(sample.throughput());
        }
        for &i in &order {
            let sample = targets[i].phase(1, options.sequential, false).await?;
            figures[i].sequential_p50.push(micros(&sample));
        }
    }
    for (target, figures) in targets.iter().zip(&mut figures) {
        figures.revoke = Some(target.revoke_account().await?);
        let started = Instant::now();
        let swept = tessera_server::sweeper::sweep_once(&target.replica.authority).await?;
        figures.sweep = Some((started.elapsed(), swept));
    }
    let (small, large) = (&figures[0], &figures[1]);
    let (s, l) = (options.small, options.large);
    let median = crate::load::median;
    let p50_row = |what: &str, small: &[f64], large: &[f64]| {
        let ratio = median(large) / median(small);
        Row {
            scenario: format!("{what}: p50 at {l} live tokens vs at {s}"),
            baseline: format!("{s}: {:.0} µs", median(small)),
            target: format!("{l}: {:.0} µs", median(large)),
            result: format!("{ratio:.2}×"),
            goal: "≤ 1.2×".into(),
            verdict: verdict(ratio <= 1.2),
        }
    };
    let n = options.concurrency;
    rows.push(p50_row(
        &format!("uncached Introspect ({n} in flight)"),
        &small.introspect_p50,
        &large.introspect_p50,
    ));
    rows.push(p50_row(
        &format!("uncached CheckNamespace ({IDENTIFIERS} ids, {n} in flight)"),
        &small.namespace_p50,
        &large.namespace_p50,
    ));
    let sequential = median(&large.sequential_p50) / median(&small.sequential_p50);
    rows.push(Row {
        scenario: format!("uncached Introspect, one at a time: p50 at {l} vs at {s}"),
        baseline: format!("{s}: {:.0} µs", median(&small.sequential_p50)),
        target: format!("{l}: {:.0} µs", median(&large.sequential_p50)),
        result: format!("{sequential:.2}×"),
        goal: String::new(),
        verdict: GoalVerdict::Info,
    });
    for (size, figures) in [(s, small), (l, large)] {
        let (took, revoked) = figures.revoke.unwrap_or_default();
        rows.push(Row {
            scenario: format!("Revoke of one account's tokens, {size} live tokens"),
            baseline: String::new(),
            target: format!("{revoked} tokens revoked"),
            result: ms(took),
            goal: "≤ 1 s".into(),
            verdict: verdict(took <= Duration::from_secs(1) && revoked == options.per_user),
        });
    }
    for (size, figures) in [(s, small), (l, large)] {
        let (took, swept) = figures.sweep.unwrap_or_default();
        rows.push(Row {
            scenario: format!("one sweeper pass, {size} live tokens"),
            baseline: String::new(),
            target: format!("{swept} expired tokens deleted"),
            result: ms(took),
            goal: String::new(),
            verdict: GoalVerdict::Info,
        });
    }
    let list = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (size, figures) in [(s, small), (l, large)] {
        details.push(format!(
            "{size} live tokens, per round: Introspect p50 [{}] µs at [{}]; CheckNamespace p50 [{}] µs at [{}]; one at a time p50 [{}] µs",
            list(&figures.introspect_p50),
            figures
                .introspect_rate
                .iter()
                .map(|r| rate(*r))
                .collect::<Vec<_>>()
                .join(", "),
            list(&figures.namespace_p50),
            figures
                .namespace_rate
                .iter()
                .map(|r| rate(*r))
                .collect::<Vec<_>>()
                .join(", "),
            list(&figures.sequential_p50),
        ));
    }
    Ok(())
}

/// A port free on loopback right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Resident memory of `pid`, in bytes.
fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .context("no VmRSS")
}

/// Kills the child when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tessera serve` on the large database with room for `options.cached` entries, fills
/// its cache and returns (RSS after a small fill, RSS after the full one, entries added between).
async fn cache_memory(
    postgres: &Postgres,
    options: &ScaleOptions,
    target: &Target,
) -> anyhow::Result<(u64, u64, u64)> {
    let exe = std::env::current_exe()?;
    // Beside tessera-bench, or one directory up from a test binary in `deps/`.
    let tessera = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("tessera"))
        .find(|path| path.is_file())
        .context("no `tessera` binary beside tessera-bench (build the workspace's binaries)")?;
    let (port, metrics_port) = (free_port()?, free_port()?);
    let child = Command::new(tessera)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
            "--cache-capacity",
            &(options.cached + 100_000).to_string(),
            "--skip-migrations",
        ])
        .env(
            "TESSERA_DATABASE_URL",
            postgres.url(&target.seeded.name, "tessera-bench-scale-serve"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting tessera serve")?;
    let serve = Serve(child);
    let pid = serve.0.id();
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let url = format!("http://127.0.0.1:{port}");
    let mut clients = None;
    for _ in 0..100 {
        if let Ok(connected) = Clients::connect_url(&url, 4).await {
            clients = Some(connected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let clients = clients.context("tessera serve did not answer within 10 s")?;
    let entries = |text: &str| metric(text, "tessera_cache_entries").unwrap_or(0.0) as u64;
    // The per-entry figure leaves out what every process holds anyway: start-up, connections,
    // the first allocations of the cache's tables.
    let warm = (options.cached / 100).max(1_000) as usize;
    let shape = (options.concurrency, options.per_user);
    fill(&clients, &target.caller, &target.seeded, warm, shape).await?;
    let before = (rss(pid)?, entries(&scrape(metrics).await?));
    let rest = usize::try_from(options.cached)? - warm;
    fill(&clients, &target.caller, &target.seeded, rest, shape).await?;
    let after = (rss(pid)?, entries(&scrape(metrics).await?));
    drop(serve);
    Ok((before.0, after.0, after.1.saturating_sub(before.1)))
}

/// `count` Introspects of fresh tokens, in batches that bound what is held at once.
async fn fill(
    clients: &Arc<Clients>,
    caller: &CallerToken,
    seeded: &Seeded,
    count: usize,
    (concurrency, per_user): (usize, u64),
) -> anyhow::Result<()> {
    const BATCH: usize = 50_000;
    let mut left = count;
    while left > 0 {
        let take = left.min(BATCH);
        // Account 0's tokens were revoked (the Revoke row) and would answer inactive.
        let tokens: Vec<String> = seeded
            .fresh_indices(take)?
            .into_iter()
            .filter(|&i| i >= per_user)
            .map(secret)
            .collect();
        let supply = Arc::new(Supply {
            tokens,
            next: AtomicUsize::new(0),
        });
        let (clients, caller) = (Arc::clone(clients), caller.clone());
        let sample = closed_loop(concurrency, Duration::from_secs(600), move |worker, _| {
            let token = supply.take()?;
            Some(Box::pin(introspect(clients.auth(worker), caller.clone(), token)) as CallFuture)
        })
        .await;
        anyhow::ensure!(
            sample.errors == 0,
            "filling the cache: {} calls failed, first: {}",
            sample.errors,
            sample.first_error.as_deref().unwrap_or("?")
        );
        left -= take;
    }
    Ok(())
}
