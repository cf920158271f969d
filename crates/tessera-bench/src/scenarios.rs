//! The scenarios of issue 8's goal table, each measured as baseline and target interleaved.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use tessera_core::{
    clock::{Clock, SystemClock},
    password::{Argon2Params, Password, PasswordHasher},
};
use tessera_proto::v1::{self as pb, auth_service_client::AuthServiceClient};
use tessera_rules::{
    role::Role,
    token::{TokenKind, TokenSecret},
};
use tessera_server::settings::AuthSettings;
use tessera_store::{
    tokens::{self, NewToken},
    users::{self, NewUser},
    PgPool,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
    Request, Status,
};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
use uuid::Uuid;

use crate::{
    cluster::{metric, scrape, Postgres, Replica, ReplicaConfig, TESSERA_DB},
    cpu::CpuTimes,
    load::{closed_loop, median, open_loop, CallResult, Sample},
    report::{load_average, ms, rate, Environment, GoalVerdict, Report, Row},
    Options,
};

/// Open-loop phases run at this share of health Check's closed-loop saturation throughput.
const OPEN_LOOP_SHARE: f64 = 0.25;
/// Identifiers per CheckNamespace call.
const IDENTIFIERS: usize = 10;
/// Longest a revocation may take to show on B before it counts as never seen.
const LAG_LIMIT: Duration = Duration::from_secs(2);
/// Longest B may take to refuse after its listener was killed before the trial fails.
const REFUSAL_LIMIT: Duration = Duration::from_secs(5);
/// Concurrent revokers in the lag scenario.
const REVOKERS: usize = 4;
/// The phrase every token-reading statement of the store contains (the plain read, its batched
/// form and the use-counting write), as pg_stat_statements shows them.
const TOKEN_READ: &str = "JOIN users u ON u.id = t.subject";
/// Thread-name prefix of replica A's runtime (for CPU accounting).
const REPLICA_A_THREADS: &str = "tessera-bench-a";
/// Open calls allowed in open-loop phases.
const MAX_IN_FLIGHT: usize = 2_000;

mod big_revocations;
mod clients;
mod edge;
mod envoy;
mod oauth;
mod python;
pub(crate) mod scale;
mod sdks;
mod tracing_overhead;

pub async fn run(options: Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let postgres = Postgres::start(options.pg_bin.as_deref(), None).await?;
    let result = Bench::run(&postgres, options).await;
    let stopped = postgres.stop().await;
    let mut report = result?;
    stopped.context("stopping postgresql")?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Connections to one replica.
struct Clients {
    auth: Vec<AuthServiceClient<Channel>>,
    health: Vec<HealthClient<Channel>>,
}

impl Clients {
    async fn connect(replica: &Replica, connections: usize) -> anyhow::Result<Arc<Clients>> {
        Clients::connect_url(&replica.url(), connections)
            .await
            .with_context(|| format!("connecting to replica {}", replica.name))
    }

    /// `connections` HTTP/2 connections to the server at `url`.
    async fn connect_url(url: &str, connections: usize) -> anyhow::Result<Arc<Clients>> {
        let mut clients = Clients {
            auth: Vec::new(),
            health: Vec::new(),
        };
        for _ in 0..connections.max(1) {
            let channel = Endpoint::from_shared(url.to_owned())?
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(30))
                .connect()
                .await?;
            clients.auth.push(AuthServiceClient::new(channel.clone()));
            clients.health.push(HealthClient::new(channel));
        }
        Ok(Arc::new(clients))
    }

    fn auth(&self, n: usize) -> AuthServiceClient<Channel> {
        self.auth[n % self.auth.len()].clone()
    }

    fn health(&self, n: usize) -> HealthClient<Channel> {
        self.health[n % self.health.len()].clone()
    }
}

/// The `authorization` value of the calling service.
#[derive(Clone)]
struct CallerToken(MetadataValue<Ascii>);

impl CallerToken {
    /// The `Bearer` value of `token`.
    fn new(token: &str) -> anyhow::Result<CallerToken> {
        Ok(CallerToken(MetadataValue::try_from(format!(
            "Bearer {token}"
        ))?))
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        request
    }
}

async fn check(mut client: HealthClient<Channel>) -> CallResult {
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(())
}

async fn introspect_active(
    mut client: AuthServiceClient<Channel>,
    caller: CallerToken,
    token: String,
) -> Result<bool, Status> {
    let answer = client
        .introspect(caller.request(pb::IntrospectRequest { token, peek: false }))
        .await?
        .into_inner();
    Ok(answer.active)
}

async fn introspect(
    client: AuthServiceClient<Channel>,
    caller: CallerToken,
    token: String,
) -> CallResult {
    if introspect_active(client, caller, token).await? {
        Ok(())
    } else {
        Err(Status::internal("introspected token unexpectedly inactive"))
    }
}

async fn check_namespace(
    mut client: AuthServiceClient<Channel>,
    caller: CallerToken,
    token: String,
    identifiers: Arc<Vec<String>>,
) -> CallResult {
    let answer = client
        .check_namespace(caller.request(pb::CheckNamespaceRequest {
            token,
            identifiers: identifiers.as_ref().clone(),
            action: "read".into(),
        }))
        .await?
        .into_inner();
    if answer.active && answer.results.len() == identifiers.len() {
        Ok(())
    } else {
        Err(Status::internal(
            "CheckNamespace answered inactive or short",
        ))
    }
}

async fn login(
    mut client: AuthServiceClient<Channel>,
    username: String,
    password: String,
) -> CallResult {
    client
        .login(pb::LoginRequest {
            username,
            password,
            totp_code: String::new(),
        })
        .await?;
    Ok(())
}

async fn revoke(
    mut client: AuthServiceClient<Channel>,
    caller: CallerToken,
    token: String,
) -> Result<u64, Status> {
    Ok(client
        .revoke(caller.request(pb::RevokeRequest {
            target: Some(pb::revoke_request::Target::Token(token)),
            reason: "benchmark".into(),
            ..Default::default()
        }))
        .await?
        .into_inner()
        .revoked_count)
}

/// Tokens handed out once each, for phases that must never hit the cache.
struct Supply {
    tokens: Vec<String>,
    next: AtomicUsize,
}

impl Supply {
    fn take(&self) -> Option<String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.tokens.get(n).cloned()
    }

    fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.tokens.len()
    }
}

/// Stores `count` fresh unlimited API tokens (namespace `deploy.`, read and write) directly, in
/// parallel batches, and returns their secrets.
async fn store_tokens(pool: &PgPool, count: usize, kind: TokenKind) -> anyhow::Result<Vec<String>> {
    const BATCH: usize = 500;
    let now = SystemClock.now();
    let secrets = tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|_| TokenSecret::generate(kind))
            .collect::<Vec<_>>()
    })
    .await?;
    let mut batches = tokio::task::JoinSet::new();
    for chunk in secrets.chunks(BATCH) {
        let pool = pool.clone();
        let hashes: Vec<_> = chunk.iter().map(TokenSecret::hash).collect();
        batches.spawn(async move {
            let mut tx = pool.begin().await?;
            for hash in hashes {
                tokens::insert(
                    &mut tx,
                    &NewToken {
                        id: Uuid::new_v4(),
                        hash,
                        kind,
                        subject: None,
                        parent_id: None,
                        session_id: None,
                        namespace: if kind == TokenKind::Service {
                            "*".into()
                        } else {
                            "deploy.".into()
                        },
                        permissions: if kind == TokenKind::Service {
                            vec!["introspect".into()]
                        } else {
                            vec!["read".into(), "write".into()]
                        },
                        elevated: false,
                        description: "tessera-bench".into(),
                        issued_at: now,
                        expires_at: Some(now + time::Duration::hours(2)),
                        max_uses: None,
                    },
                )
                .await?;
            }
            tx.commit().await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = batches.join_next().await {
        done??;
    }
    Ok(secrets.iter().map(|s| s.expose().to_owned()).collect())
}

/// `ratio` with its goal and verdict.
fn ratio_row(
    scenario: &str,
    baseline: String,
    target: String,
    ratio: f64,
    at_least: Option<f64>,
    at_most: Option<f64>,
) -> Row {
    let (goal, met) = match (at_least, at_most) {
        (Some(min), _) => (format!("≥ {min}×"), ratio >= min),
        (None, Some(max)) => (format!("≤ {max}×"), ratio <= max),
        (None, None) => (String::new(), true),
    };
    Row {
        scenario: scenario.into(),
        baseline,
        target,
        result: format!("{ratio:.2}×"),
        goal,
        verdict: if met {
            GoalVerdict::Met
        } else {
            GoalVerdict::Missed
        },
    }
}

fn list(values: &[f64], unit: impl Fn(f64) -> String) -> String {
    values
        .iter()
        .map(|v| unit(*v))
        .collect::<Vec<_>>()
        .join(", ")
}

fn per_second(v: f64) -> String {
    format!("{v:.0}")
}

fn millis(v: f64) -> String {
    format!("{:.3}", v * 1e3)
}

struct Bench {
    options: Options,
    admin: PgPool,
    a: Replica,
    b: Replica,
    on_a: Arc<Clients>,
    on_b: Arc<Clients>,
    caller: CallerToken,
    caller_token: String,
    hot: String,
    identifiers: Arc<Vec<String>>,
    flood_user: (String, String),
    hash_workers: usize,
    check_saturation: f64,
    rows: Vec<Row>,
    details: Vec<String>,
}

impl Bench {
    async fn run(postgres: &Postgres, options: Options) -> anyhow::Result<Report> {
        let mut environment = Environment::detect(postgres.version.clone(), options.shape());
        let admin = postgres.admin_pool().await?;
        tessera_store::migrate(&admin).await?;
        postgres
            .pgbench(&["-i".into(), "-s".into(), "1".into(), "-q".into()])
            .await?;

        let cores = environment.cores;
        let hash_workers = options
            .hash_workers
            .unwrap_or(AuthSettings::default().hash_workers)
            .max(1);
        let flood_user = (
            "flood".to_owned(),
            "correct horse battery staple".to_owned(),
        );
        let password_hash = {
            let password = Password::new(flood_user.1.clone());
            tokio::task::spawn_blocking(move || {
                PasswordHasher::new(Argon2Params::default())?.hash(&password)
            })
            .await??
        };
        users::insert(
            &mut *admin.acquire().await?,
            &NewUser {
                id: Uuid::new_v4(),
                username: flood_user.0.clone(),
                display_name: "login flood".into(),
                role: Role::User,
                password_hash,
                created_at: SystemClock.now(),
            },
        )
        .await?;
        let caller = store_tokens(&admin, 1, TokenKind::Service).await?.remove(0);
        let hot = store_tokens(&admin, 1, TokenKind::Api).await?.remove(0);

        let a = Replica::start(
            postgres.url(TESSERA_DB, "bench-a"),
            ReplicaConfig {
                name: "bench-a".into(),
                // The default pool (half the cores) with a short queue: a flood is refused
                // at once instead of waiting behind a long queue.
                auth: AuthSettings {
                    hash_workers,
                    hash_queue: hash_workers,
                    ..AuthSettings::default()
                },
                threads: cores,
                test_before_acquire: options.pool_ping,
            },
        )
        .await?;
        let b = Replica::start(
            postgres.url(TESSERA_DB, "bench-b"),
            ReplicaConfig {
                name: "bench-b".into(),
                auth: AuthSettings::default(),
                threads: cores,
                test_before_acquire: options.pool_ping,
            },
        )
        .await?;
        let on_a = Clients::connect(&a, options.connections).await?;
        let on_b = Clients::connect(&b, options.connections).await?;
        let mut bench = Bench {
            admin,
            a,
            b,
            on_a,
            on_b,
            caller: CallerToken(MetadataValue::try_from(format!("Bearer {caller}"))?),
            caller_token: caller,
            hot,
            identifiers: Arc::new(
                (0..IDENTIFIERS)
                    .map(|i| {
                        if i % 2 == 0 {
                            format!("deploy.job{i}")
                        } else {
                            format!("build.job{i}")
                        }
                    })
                    .collect(),
            ),
            flood_user,
            hash_workers,
            check_saturation: 0.0,
            rows: Vec::new(),
            details: Vec::new(),
            options,
        };
        let outcome = bench.scenarios(postgres).await;
        let Bench {
            a,
            b,
            on_a,
            on_b,
            admin,
            rows,
            details,
            ..
        } = bench;
        drop((on_a, on_b));
        a.stop().await;
        b.stop().await;
        admin.close().await;
        outcome?;
        environment.load_after = load_average();
        Ok(Report {
            environment,
            rows,
            details,
            elapsed: Duration::ZERO,
        })
    }

    async fn scenarios(&mut self, postgres: &Postgres) -> anyhow::Result<()> {
        let only = self.options.only.clone();
        let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
        if wanted("throughput") {
            self.throughput().await?;
        } else {
            // The open-loop rates derive from Check's saturation: measure it alone.
            let (n, phase) = (self.options.concurrency, self.options.phase);
            closed_loop(n, self.options.warmup, self.closed_check(&self.on_a)).await;
            let check = closed_loop(n, phase, self.closed_check(&self.on_a)).await;
            self.checked("Check", &check)?;
            self.check_saturation = check.throughput();
        }
        if wanted("latency") {
            self.open_loop_latency().await?;
        }
        if wanted("clients") {
            self.clients().await?;
        }
        if wanted("python") {
            self.python().await?;
        }
        if wanted("java") {
            self.java().await?;
        }
        if wanted("node") {
            self.node().await?;
        }
        if wanted("edge") {
            self.edge().await?;
        }
        if wanted("envoy") {
            self.envoy().await?;
        }
        if wanted("oauth") {
            self.oauth().await?;
        }
        if wanted("uncached") {
            self.uncached(postgres).await?;
        }
        if wanted("flood") {
            self.login_flood().await?;
        }
        if wanted("revocation") {
            self.revocation_lag().await?;
        }
        if wanted("kill") {
            self.listener_killed().await?;
        }
        if wanted("big") {
            self.big_revocations().await?;
        }
        if wanted("tracing") {
            self.tracing_overhead(postgres).await?;
        }
        self.metrics_snapshot().await?;
        Ok(())
    }

    fn closed_check(
        &self,
        clients: &Arc<Clients>,
    ) -> impl Fn(usize, u64) -> Option<CallFuture> + Send + Sync + 'static {
        let clients = Arc::clone(clients);
        move |worker, _| Some(Box::pin(check(clients.health(worker))) as CallFuture)
    }

    fn closed_introspect(
        &self,
        clients: &Arc<Clients>,
    ) -> impl Fn(usize, u64) -> Option<CallFuture> + Send + Sync + 'static {
        let (clients, caller, hot) = (Arc::clone(clients), self.caller.clone(), self.hot.clone());
        move |worker, _| {
            Some(Box::pin(introspect(
                clients.auth(worker),
                caller.clone(),
                hot.clone(),
            )) as CallFuture)
        }
    }

    fn closed_namespace(
        &self,
    ) -> impl Fn(usize, u64) -> Option<CallFuture> + Send + Sync + 'static {
        let (clients, caller, hot, identifiers) = (
            Arc::clone(&self.on_a),
            self.caller.clone(),
            self.hot.clone(),
            Arc::clone(&self.identifiers),
        );
        move |worker, _| {
            Some(Box::pin(check_namespace(
                clients.auth(worker),
                caller.clone(),
                hot.clone(),
                Arc::clone(&identifiers),
            )) as CallFuture)
        }
    }

    fn open_check(&self) -> impl Fn(u64) -> CallFuture + Send + Sync + 'static {
        let clients = Arc::clone(&self.on_a);
        move |n| Box::pin(check(clients.health(n as usize))) as CallFuture
    }

    fn open_introspect(
        &self,
        clients: &Arc<Clients>,
    ) -> impl Fn(u64) -> CallFuture + Send + Sync + 'static {
        let (clients, caller, hot) = (Arc::clone(clients), self.caller.clone(), self.hot.clone());
        move |n| {
            Box::pin(introspect(
                clients.auth(n as usize),
                caller.clone(),
                hot.clone(),
            )) as CallFuture
        }
    }

    /// A row saying why a scenario's rows are missing (a toolchain or binary it needs is absent).
    fn not_run(&mut self, rows: impl Into<String>, err: &anyhow::Error) {
        self.rows.push(Row {
            scenario: rows.into(),
            baseline: String::new(),
            target: String::new(),
            result: format!("not run: {err:#}"),
            goal: String::new(),
            verdict: GoalVerdict::Info,
        });
    }

    fn checked(&self, what: &str, sample: &Sample) -> anyhow::Result<()> {
        if sample.errors > 0 {
            bail!(
                "{what}: {} calls failed, first: {}",
                sample.errors,
                sample.first_error.as_deref().unwrap_or("?")
            );
        }
        if sample.ok.is_empty() {
            bail!("{what}: no call succeeded");
        }
        Ok(())
    }

    /// Health Check, cached Introspect and cached CheckNamespace (10 identifiers), closed loop,
    /// interleaved per round: throughput ratios to Check.
    async fn throughput(&mut self) -> anyhow::Result<()> {
        let (n, phase, warmup) = (
            self.options.concurrency,
            self.options.phase,
            self.options.warmup,
        );
        closed_loop(n, warmup, self.closed_check(&self.on_a)).await;
        let warm = closed_loop(n, warmup, self.closed_introspect(&self.on_a)).await;
        self.checked("warm-up Introspect", &warm)?;
        closed_loop(n, warmup, self.closed_namespace()).await;
        let (mut checks, mut introspects, mut namespaces) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.options.rounds {
            let check = closed_loop(n, phase, self.closed_check(&self.on_a)).await;
            self.checked("Check", &check)?;
            let introspect = closed_loop(n, phase, self.closed_introspect(&self.on_a)).await;
            self.checked("cached Introspect", &introspect)?;
            let namespace = closed_loop(n, phase, self.closed_namespace()).await;
            self.checked("CheckNamespace", &namespace)?;
            checks.push(check.throughput());
            introspects.push(introspect.throughput());
            namespaces.push(namespace.throughput());
        }
        let ratio = |target: &[f64]| {
            median(
                &target
                    .iter()
                    .zip(&checks)
                    .map(|(t, c)| t / c)
                    .collect::<Vec<_>>(),
            )
        };
        self.check_saturation = median(&checks);
        self.rows.push(ratio_row(
            &format!("cached Introspect throughput, closed loop ({n} in flight)"),
            format!("Check {}", rate(median(&checks))),
            rate(median(&introspects)),
            ratio(&introspects),
            Some(0.85),
            None,
        ));
        self.rows.push(ratio_row(
            &format!("cached CheckNamespace ({IDENTIFIERS} identifiers) throughput"),
            format!("Check {}", rate(median(&checks))),
            rate(median(&namespaces)),
            ratio(&namespaces),
            Some(0.8),
            None,
        ));
        self.details.push(format!(
            "throughput per round (calls/s): Check [{}]; Introspect [{}]; CheckNamespace [{}]",
            list(&checks, per_second),
            list(&introspects, per_second),
            list(&namespaces, per_second)
        ));
        Ok(())
    }

    fn open_rate(&self) -> f64 {
        (self.check_saturation * OPEN_LOOP_SHARE).max(10.0)
    }

    /// Check and cached Introspect at the same fixed arrival rate (25 % of Check's saturation):
    /// p99 from the scheduled send times.
    async fn open_loop_latency(&mut self) -> anyhow::Result<()> {
        let rate_per_s = self.open_rate();
        let phase = self.options.phase;
        let never = Arc::new(AtomicBool::new(false));
        open_loop(
            rate_per_s,
            self.options.warmup,
            MAX_IN_FLIGHT,
            never.clone(),
            self.open_introspect(&self.on_a),
        )
        .await;
        let (mut checks, mut introspects, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.options.rounds {
            let check = open_loop(
                rate_per_s,
                phase,
                MAX_IN_FLIGHT,
                never.clone(),
                self.open_check(),
            )
            .await;
            self.checked("open-loop Check", &check)?;
            let introspect = open_loop(
                rate_per_s,
                phase,
                MAX_IN_FLIGHT,
                never.clone(),
                self.open_introspect(&self.on_a),
            )
            .await;
            self.checked("open-loop Introspect", &introspect)?;
            let (c, i) = (
                check.ok_quantile(0.99).as_secs_f64(),
                introspect.ok_quantile(0.99).as_secs_f64(),
            );
            checks.push(c);
            introspects.push(i);
            ratios.push(i / c);
            self.details.push(format!(
                "open loop @ {}: Check p50 {} p99 {} p99.9 {} max {}; Introspect p50 {} p99 {} p99.9 {} max {} (dropped {} / {})",
                rate(rate_per_s),
                ms(check.ok_quantile(0.5)),
                ms(check.ok_quantile(0.99)),
                ms(check.ok_quantile(0.999)),
                ms(check.ok_quantile(1.0)),
                ms(introspect.ok_quantile(0.5)),
                ms(introspect.ok_quantile(0.99)),
                ms(introspect.ok_quantile(0.999)),
                ms(introspect.ok_quantile(1.0)),
                check.dropped,
                introspect.dropped,
            ));
        }
        self.rows.push(ratio_row(
            &format!(
                "cached Introspect p99, open loop at {} (25 % of Check's saturation)",
                rate(rate_per_s)
            ),
            format!("Check p99 {}", ms(Duration::from_secs_f64(median(&checks)))),
            format!("p99 {}", ms(Duration::from_secs_f64(median(&introspects)))),
            median(&ratios),
            None,
            Some(1.5),
        ));
        Ok(())
    }

    /// Introspect of tokens never seen before (every call misses the cache and reads PostgreSQL
    /// once; the calling service's own token stays cached, as in production) against
    /// `pgbench -S` over the same Unix socket with as many clients as calls in flight; then the
    /// statements per call, counted by pg_stat_statements.
    async fn uncached(&mut self, postgres: &Postgres) -> anyhow::Result<()> {
        let n = self.options.concurrency;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let seconds = self.options.phase.as_secs_f64().round().max(1.0) as u64;
        let phase = Duration::from_secs(seconds);
        let pgbench_args: Vec<String> = [
            "-S",
            "-M",
            "prepared",
            "-n",
            "-c",
            &n.to_string(),
            "-j",
            &n.min(cores).to_string(),
            "-T",
            &seconds.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut expected_rate = if self.options.smoke { 1_000.0 } else { 4_000.0 };
        let warm = self
            .uncached_phase(n, self.options.warmup, expected_rate)
            .await?;
        expected_rate = expected_rate.max(warm.0.throughput());
        let (mut pgbench, mut introspects, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut checks, mut check_ratios) = (Vec::new(), Vec::new());
        let (mut tessera_cpu, mut tessera_calls) = (CpuTimes::default(), 0u64);
        let (mut pgbench_cpu, mut pgbench_transactions) = (CpuTimes::default(), 0u64);
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(&self.admin)
            .await?;
        for round in 0..self.options.rounds {
            let before = CpuTimes::now(REPLICA_A_THREADS);
            let output = postgres.pgbench(&pgbench_args).await?;
            let used = CpuTimes::now(REPLICA_A_THREADS).since(&before);
            pgbench_cpu.postgres += used.postgres;
            pgbench_cpu.children += used.children;
            pgbench_transactions += output
                .lines()
                .find_map(|line| {
                    line.strip_prefix("number of transactions actually processed: ")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                })
                .unwrap_or(0);
            let tps = output
                .lines()
                .find_map(|line| {
                    line.strip_prefix("tps = ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|v| v.parse::<f64>().ok())
                })
                .with_context(|| format!("no tps in pgbench output: {output}"))?;
            // The same client and concurrency on an empty RPC, right before: the ceiling.
            let check = closed_loop(n, phase, self.closed_check(&self.on_a)).await;
            self.checked("Check", &check)?;
            let (sample, exhausted, used) = self.uncached_phase(n, phase, expected_rate).await?;
            checks.push(check.throughput());
            check_ratios.push(sample.throughput() / check.throughput());
            tessera_cpu.replica += used.replica;
            tessera_cpu.client += used.client;
            tessera_cpu.postgres += used.postgres;
            tessera_calls += sample.ok.len();
            expected_rate = expected_rate.max(sample.throughput());
            if exhausted {
                self.details.push(format!(
                    "uncached round {round}: ran out of fresh tokens after {:.2?}",
                    sample.elapsed
                ));
            }
            pgbench.push(tps);
            introspects.push(sample.throughput());
            ratios.push(sample.throughput() / tps);
        }
        self.rows.push(ratio_row(
            &format!(
                "uncached Introspect throughput ({n} in flight) vs pgbench -S -M prepared -c {n}"
            ),
            format!("pgbench {}", rate(median(&pgbench))),
            rate(median(&introspects)),
            median(&ratios),
            Some(0.5),
            None,
        ));
        self.rows.push(ratio_row(
            &format!("uncached Introspect / Check (tonic, {n} in flight, same connections)"),
            format!("Check {}", rate(median(&checks))),
            rate(median(&introspects)),
            median(&check_ratios),
            Some(0.5),
            None,
        ));
        // The ceiling: an RPC that does nothing at all, against the same pgbench.
        self.rows.push(Row {
            scenario: format!(
                "for scale: health Check (an empty RPC, {n} in flight) vs the same pgbench -S"
            ),
            baseline: format!("pgbench {}", rate(median(&pgbench))),
            target: format!("Check {}", rate(self.check_saturation)),
            result: format!("{:.2}×", self.check_saturation / median(&pgbench)),
            goal: String::new(),
            verdict: GoalVerdict::Info,
        });
        self.details.push(format!(
            "uncached per round (calls/s): pgbench -S [{}]; Check [{}]; Introspect [{}]",
            list(&pgbench, per_second),
            list(&checks, per_second),
            list(&introspects, per_second)
        ));
        let per = |cpu: Duration, count: u64| cpu.as_secs_f64() * 1e6 / count.max(1) as f64;
        let exec_times: Vec<(String, f64, f64, i64, i64)> = sqlx::query_as(
            "SELECT query, total_plan_time / calls, total_exec_time / calls, calls, rows
             FROM pg_stat_statements
             WHERE query LIKE '%pgbench_accounts%' OR query LIKE '%' || $1 || '%'",
        )
        .bind(TOKEN_READ)
        .fetch_all(&self.admin)
        .await?;
        // Coalesced misses: one statement (`req.idx`) answers many calls.
        let (single, batched, batched_rows) =
            exec_times
                .iter()
                .fold((0i64, 0i64, 0i64), |(single, batched, rows), row| {
                    match (row.0.contains(TOKEN_READ), row.0.contains("req.idx")) {
                        (true, true) => (single, batched + row.3, rows + row.4),
                        (true, false) => (single + row.3, batched, rows),
                        _ => (single, batched, rows),
                    }
                });
        let statements = single + batched;
        self.rows.push(Row {
            scenario: format!(
                "coalesced misses: SQL statements per uncached Introspect ({n} in flight)"
            ),
            baseline: String::new(),
            target: format!(
                "{statements} statements for {tessera_calls} calls ({batched} batches, {:.1} rows each)",
                batched_rows as f64 / batched.max(1) as f64
            ),
            result: format!("{:.2}", statements as f64 / tessera_calls.max(1) as f64),
            goal: "≤ 1".into(),
            verdict: if statements as u64 <= tessera_calls {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        // The lone plain read (not the batched one, not the use-counting write).
        let lone = exec_times.iter().find(|(query, ..)| {
            query.contains(TOKEN_READ)
                && !query.contains("req.idx")
                && !query.contains("LEFT JOIN consumed")
        });
        let exec = |needle: &str| {
            exec_times
                .iter()
                .find(|(query, ..)| query.contains(needle))
                .map_or(f64::NAN, |(_, plan, exec, ..)| (plan + exec) * 1e3)
        };
        let plan = |needle: &str| {
            exec_times
                .iter()
                .find(|(query, ..)| query.contains(needle))
                .map_or(f64::NAN, |(_, plan, ..)| plan * 1e3)
        };
        // The server's side of an uncached call: the replica and PostgreSQL (issue 33: ≤ 80 µs).
        let server = per(tessera_cpu.replica + tessera_cpu.postgres, tessera_calls);
        self.rows.push(Row {
            scenario: format!(
                "server CPU per uncached Introspect ({n} in flight; replica + PostgreSQL, /proc)"
            ),
            baseline: format!(
                "pgbench -S: {:.0} µs of PostgreSQL",
                per(pgbench_cpu.postgres, pgbench_transactions)
            ),
            target: format!(
                "{:.0} µs + {:.0} µs",
                per(tessera_cpu.replica, tessera_calls),
                per(tessera_cpu.postgres, tessera_calls)
            ),
            result: format!("{server:.0} µs"),
            goal: "≤ 80 µs".into(),
            verdict: if server <= 80.0 {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        self.details.push(format!(
            "where the time goes (CPU per call, from /proc over all rounds, {cores} cores): uncached Introspect: client {:.0} µs + replica {:.0} µs + PostgreSQL {:.0} µs = {:.0} µs ({} calls); pgbench -S: client (pgbench) {:.0} µs + PostgreSQL {:.0} µs per transaction ({} transactions). Statement planning + execution per call alone (pg_stat_statements): token lookup {:.1} µs (planning {:.1}), pgbench SELECT {:.1} µs (planning {:.1})",
            per(tessera_cpu.client, tessera_calls),
            per(tessera_cpu.replica, tessera_calls),
            per(tessera_cpu.postgres, tessera_calls),
            per(tessera_cpu.client + tessera_cpu.replica + tessera_cpu.postgres, tessera_calls),
            tessera_calls,
            per(pgbench_cpu.children, pgbench_transactions),
            per(pgbench_cpu.postgres, pgbench_transactions),
            pgbench_transactions,
            lone.map_or(f64::NAN, |(_, plan, exec, ..)| (plan + exec) * 1e3),
            lone.map_or(f64::NAN, |(_, plan, ..)| plan * 1e3),
            exec("pgbench_accounts"),
            plan("pgbench_accounts"),
        ));

        let calls = self.options.statement_calls;
        let (lookups, others, background) = self.statements(&self.on_a, calls).await?;
        let exact = lookups == calls as i64 && others.is_empty();
        self.rows.push(Row {
            scenario: "SQL statements per uncached Introspect (pg_stat_statements)".into(),
            baseline: String::new(),
            target: format!("{lookups} lookups for {calls} calls"),
            result: format!(
                "{:.2}",
                (lookups + others.iter().map(|o| o.1).sum::<i64>()) as f64 / calls as f64
            ),
            goal: "exactly 1".into(),
            verdict: if exact {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        self.details.push(format!(
            "pg_stat_statements during {calls} uncached Introspects on a cached caller: {lookups} token lookups; other statements {others:?}; background (revocation feed poll, health ping, all replicas) {background:?}"
        ));

        // For comparison: a replica started with the cache off (`--no-cache`) also reads the
        // caller's own token, so each call costs two lookups.
        let c = Replica::start(
            postgres.url(TESSERA_DB, "bench-c"),
            ReplicaConfig {
                name: "bench-c".into(),
                auth: AuthSettings {
                    cache_enabled: false,
                    ..AuthSettings::default()
                },
                threads: cores,
                test_before_acquire: self.options.pool_ping,
            },
        )
        .await?;
        let on_c = Clients::connect(&c, 1).await?;
        let counted = self.statements(&on_c, calls.min(100)).await;
        drop(on_c);
        c.stop().await;
        let (lookups, others, _) = counted?;
        self.rows.push(Row {
            scenario: "SQL statements per Introspect with the cache off (--no-cache)".into(),
            baseline: String::new(),
            target: format!("{lookups} lookups for {} calls", calls.min(100)),
            result: format!("{:.2}", lookups as f64 / calls.min(100) as f64),
            goal: "(caller + token)".into(),
            verdict: if others.is_empty() {
                GoalVerdict::Info
            } else {
                GoalVerdict::Missed
            },
        });
        Ok(())
    }

    /// One closed-loop phase of never-seen tokens; true when the tokens ran out before the end.
    async fn uncached_phase(
        &mut self,
        n: usize,
        phase: Duration,
        expected_rate: f64,
    ) -> anyhow::Result<(Sample, bool, CpuTimes)> {
        let count = (expected_rate * phase.as_secs_f64() * 1.6).ceil() as usize + 100;
        let supply = Arc::new(Supply {
            tokens: store_tokens(&self.admin, count, TokenKind::Api).await?,
            next: AtomicUsize::new(0),
        });
        // The tokens settle as autovacuum would leave them (hint bits, visibility map) before
        // they are read: what the phase measures is the read, not the aftermath of issuing
        // tens of thousands of tokens a moment earlier, which would otherwise land in
        // PostgreSQL's CPU during the phase.
        sqlx::query("VACUUM (ANALYZE) tokens")
            .execute(&self.admin)
            .await?;
        let (clients, caller) = (Arc::clone(&self.on_a), self.caller.clone());
        let taken = Arc::clone(&supply);
        let before = CpuTimes::now(REPLICA_A_THREADS);
        let sample = closed_loop(n, phase, move |worker, _| {
            let token = taken.take()?;
            Some(Box::pin(introspect(clients.auth(worker), caller.clone(), token)) as CallFuture)
        })
        .await;
        let used = CpuTimes::now(REPLICA_A_THREADS).since(&before);
        self.checked("uncached Introspect", &sample)?;
        Ok((sample, supply.exhausted(), used))
    }

    /// Runs `calls` Introspects of fresh tokens one after another on `replica` and counts the SQL
    /// statements PostgreSQL executed meanwhile: (token lookups, other statements, background).
    async fn statements(
        &self,
        clients: &Arc<Clients>,
        calls: usize,
    ) -> anyhow::Result<(i64, Vec<(String, i64)>, Vec<(String, i64)>)> {
        let fresh = store_tokens(&self.admin, calls, TokenKind::Api).await?;
        // The caller's token is cached (when the replica caches) before counting starts.
        introspect(clients.auth(0), self.caller.clone(), self.hot.clone()).await?;
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(&self.admin)
            .await?;
        for token in fresh {
            introspect(clients.auth(0), self.caller.clone(), token).await?;
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT query, calls FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
             ORDER BY calls DESC",
        )
        .fetch_all(&self.admin)
        .await?;
        let (mut lookups, mut others, mut background) = (0, Vec::new(), Vec::new());
        for (query, count) in rows {
            let flat = query.split_whitespace().collect::<Vec<_>>().join(" ");
            // The lone read, the coalesced one and the use-counting write all read the token
            // with its account.
            if flat.contains(TOKEN_READ) {
                lookups += count;
            } else if flat.contains("FROM revocations")
                || flat.contains("tessera_feed_renew")
                || flat.contains("feed_followers")
                || flat == "SELECT $1"
                || flat == "SELECT 1"
                || flat.contains("pg_stat_statements")
                || flat.contains("signing_keys")
            {
                background.push((shorten(&flat), count));
            } else {
                others.push((shorten(&flat), count));
            }
        }
        Ok((lookups, others, background))
    }

    /// Logins at twice the hashing capacity while cached Introspect runs open loop: Introspect's
    /// p99 against the same load without the flood, and how fast refused logins are answered.
    async fn login_flood(&mut self) -> anyhow::Result<()> {
        let (phase, workers) = (self.options.phase, self.hash_workers);
        let (user, password) = self.flood_user.clone();
        let clients = Arc::clone(&self.on_a);
        let login_call = {
            let (clients, user, password) = (Arc::clone(&clients), user.clone(), password.clone());
            move |n: usize| {
                Box::pin(login(clients.auth(n), user.clone(), password.clone())) as CallFuture
            }
        };
        let logins = login_call.clone();
        let capacity_sample =
            closed_loop(workers, phase.max(Duration::from_secs(1)), move |w, _| {
                Some(logins(w))
            })
            .await;
        self.checked("login capacity", &capacity_sample)?;
        let capacity = capacity_sample.throughput();
        let flood_rate = 2.0 * capacity;
        let rate_per_s = self.open_rate();
        let never = Arc::new(AtomicBool::new(false));
        // Unmeasured: lets the capacity phase's hashing and writes settle first.
        open_loop(
            rate_per_s,
            self.options.warmup,
            MAX_IN_FLIGHT,
            never.clone(),
            self.open_introspect(&self.on_a),
        )
        .await;
        let (mut quiet, mut flooded, mut ratios, mut refused_p99) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut accepted_total, mut refused_total) = (0, 0);
        for _ in 0..self.options.rounds {
            let alone = open_loop(
                rate_per_s,
                phase,
                MAX_IN_FLIGHT,
                never.clone(),
                self.open_introspect(&self.on_a),
            )
            .await;
            self.checked("Introspect without flood", &alone)?;
            let logins = login_call.clone();
            let flood = tokio::spawn(open_loop(
                flood_rate,
                phase,
                MAX_IN_FLIGHT,
                never.clone(),
                move |n| logins(n as usize),
            ));
            let during = open_loop(
                rate_per_s,
                phase,
                MAX_IN_FLIGHT,
                never.clone(),
                self.open_introspect(&self.on_a),
            )
            .await;
            let flood = flood.await?;
            self.checked("Introspect during flood", &during)?;
            if flood.errors > 0 {
                bail!(
                    "login flood: {} logins failed otherwise than RESOURCE_EXHAUSTED, first: {:?}",
                    flood.errors,
                    flood.first_error
                );
            }
            let (q, f) = (
                alone.ok_quantile(0.99).as_secs_f64(),
                during.ok_quantile(0.99).as_secs_f64(),
            );
            quiet.push(q);
            flooded.push(f);
            ratios.push(f / q);
            if !flood.refused.is_empty() {
                refused_p99.push(flood.refused_quantile(0.99).as_secs_f64());
            }
            accepted_total += flood.ok.len();
            refused_total += flood.refused.len();
            self.details.push(format!(
                "login flood round: Introspect p99 {} alone, {} during; logins accepted {} (p99 {}), refused {} (p50 {}, p99 {}, max {})",
                ms(alone.ok_quantile(0.99)),
                ms(during.ok_quantile(0.99)),
                flood.ok.len(),
                ms(flood.ok_quantile(0.99)),
                flood.refused.len(),
                ms(flood.refused_quantile(0.5)),
                ms(flood.refused_quantile(0.99)),
                ms(flood.refused_quantile(1.0)),
            ));
        }
        self.details.push(format!(
            "login flood: hashing capacity {} ({workers} argon2 workers, queue {workers}), flood {} for {:?} per round; Introspect open loop at {}; p99 per round (ms) alone [{}], flooded [{}]",
            rate(capacity),
            rate(flood_rate),
            phase,
            rate(rate_per_s),
            list(&quiet, millis),
            list(&flooded, millis)
        ));
        self.rows.push(ratio_row(
            &format!(
                "login flood at 2 × hashing capacity ({}): cached Introspect p99",
                rate(flood_rate)
            ),
            format!(
                "no flood p99 {}",
                ms(Duration::from_secs_f64(median(&quiet)))
            ),
            format!("p99 {}", ms(Duration::from_secs_f64(median(&flooded)))),
            median(&ratios),
            None,
            Some(2.0),
        ));
        let refused = median(&refused_p99);
        self.rows.push(Row {
            scenario: "login flood: refused logins (RESOURCE_EXHAUSTED) p99".into(),
            baseline: String::new(),
            target: format!("{refused_total} refused, {accepted_total} accepted"),
            result: ms(Duration::from_secs_f64(refused)),
            goal: "≤ 10 ms".into(),
            verdict: if refused_total > 0 && refused <= 0.010 {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        Ok(())
    }

    /// Revokes on A while both replicas serve cached Introspect open loop; after each Revoke
    /// returns, A must refuse at once and B is polled until it refuses: the lag.
    async fn revocation_lag(&mut self) -> anyhow::Result<()> {
        let count = self.options.revocations;
        let targets = store_tokens(&self.admin, count, TokenKind::Api).await?;
        // Cached on both replicas first, so B answers from its cache until it hears.
        let warm = Arc::new(Supply {
            tokens: targets
                .iter()
                .flat_map(|t| [t.clone(), t.clone()])
                .collect(),
            next: AtomicUsize::new(0),
        });
        for clients in [&self.on_a, &self.on_b] {
            let (clients, caller, supply) =
                (Arc::clone(clients), self.caller.clone(), Arc::clone(&warm));
            supply.next.store(0, Ordering::Relaxed);
            let sample = closed_loop(
                self.options.concurrency,
                Duration::from_secs(120),
                move |w, _| {
                    let token = supply.take()?;
                    Some(Box::pin(introspect(clients.auth(w), caller.clone(), token)) as CallFuture)
                },
            )
            .await;
            self.checked("warming the revocation targets", &sample)?;
        }
        let cached_on_b = self.b.authority.cache().len();
        anyhow::ensure!(
            cached_on_b > count,
            "B caches {cached_on_b} decisions, expected the {count} targets and the caller"
        );

        let stop = Arc::new(AtomicBool::new(false));
        let background_rate = self.open_rate() / 2.0;
        let load_a = tokio::spawn(open_loop(
            background_rate,
            Duration::from_secs(300),
            MAX_IN_FLIGHT,
            Arc::clone(&stop),
            self.open_introspect(&self.on_a),
        ));
        let load_b = tokio::spawn(open_loop(
            background_rate,
            Duration::from_secs(300),
            MAX_IN_FLIGHT,
            Arc::clone(&stop),
            self.open_introspect(&self.on_b),
        ));

        let supply = Arc::new(Supply {
            tokens: targets,
            next: AtomicUsize::new(0),
        });
        let lags = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
            1_000,
            60_000_000_000,
            3,
        )?));
        let accepted_on_a = Arc::new(AtomicU64::new(0));
        let accepted_on_b = Arc::new(AtomicU64::new(0));
        let never_seen = Arc::new(AtomicU64::new(0));
        let durations = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
            1_000,
            60_000_000_000,
            3,
        )?));
        let mut revokers = tokio::task::JoinSet::new();
        for worker in 0..REVOKERS {
            let (supply, lags, accepted_on_a, never_seen) = (
                Arc::clone(&supply),
                Arc::clone(&lags),
                Arc::clone(&accepted_on_a),
                Arc::clone(&never_seen),
            );
            let (accepted_on_b, durations) = (Arc::clone(&accepted_on_b), Arc::clone(&durations));
            let (on_a, on_b, caller) = (
                Arc::clone(&self.on_a),
                Arc::clone(&self.on_b),
                self.caller.clone(),
            );
            revokers.spawn(async move {
                while let Some(token) = supply.take() {
                    let sent = Instant::now();
                    let revoked = revoke(on_a.auth(worker), caller.clone(), token.clone()).await?;
                    let returned = Instant::now();
                    durations
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .saturating_record(
                            u64::try_from((returned - sent).as_nanos()).unwrap_or(u64::MAX),
                        );
                    if revoked != 1 {
                        bail!("Revoke revoked {revoked} tokens, expected 1");
                    }
                    if introspect_active(on_a.auth(worker), caller.clone(), token.clone()).await? {
                        accepted_on_a.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut first = true;
                    loop {
                        let active =
                            introspect_active(on_b.auth(worker), caller.clone(), token.clone())
                                .await?;
                        if active && first {
                            accepted_on_b.fetch_add(1, Ordering::Relaxed);
                        }
                        first = false;
                        if !active {
                            let lag =
                                u64::try_from(returned.elapsed().as_nanos()).unwrap_or(u64::MAX);
                            lags.lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .saturating_record(lag);
                            break;
                        }
                        if returned.elapsed() > LAG_LIMIT {
                            never_seen.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                anyhow::Ok(())
            });
        }
        let mut failure = None;
        while let Some(done) = revokers.join_next().await {
            if let Err(err) = done.map_err(anyhow::Error::from).and_then(|r| r) {
                failure.get_or_insert(err);
            }
        }
        stop.store(true, Ordering::Relaxed);
        let (load_a, load_b) = (load_a.await?, load_b.await?);
        if let Some(err) = failure {
            return Err(err);
        }
        let lags = lags.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (accepted, missing) = (
            accepted_on_a.load(Ordering::Relaxed),
            never_seen.load(Ordering::Relaxed),
        );
        let q = |quantile: f64| Duration::from_nanos(lags.value_at_quantile(quantile));
        let (p99, max) = (q(0.99), q(1.0));
        let durations = durations.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let d = |quantile: f64| Duration::from_nanos(durations.value_at_quantile(quantile));
        let accepted_b = accepted_on_b.load(Ordering::Relaxed);
        self.rows.push(Row {
            scenario: "Revoke duration on A (until every follower acknowledged)".into(),
            baseline: String::new(),
            target: format!("p50 {}", ms(d(0.5))),
            result: format!("p99 {}, max {}", ms(d(0.99)), ms(d(1.0))),
            goal: "for the record".into(),
            verdict: GoalVerdict::Info,
        });
        self.rows.push(Row {
            scenario: "B accepts the token on its first Introspect after the Revoke on A returned"
                .into(),
            baseline: String::new(),
            target: format!("checked {} times", durations.len()),
            result: format!("{accepted_b} times"),
            goal: "never".into(),
            verdict: if accepted_b == 0 {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        self.rows.push(Row {
            scenario: format!(
                "revoke on A, Introspect on B: lag ({} revocations under load)",
                lags.len() + missing
            ),
            baseline: String::new(),
            target: format!("p50 {}", ms(q(0.5))),
            result: format!("p99 {}, max {}", ms(p99), ms(max)),
            goal: "p99 ≤ 20 ms, max ≤ 100 ms".into(),
            verdict: if missing == 0
                && p99 <= Duration::from_millis(20)
                && max <= Duration::from_millis(100)
            {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        self.rows.push(Row {
            scenario: "A accepts the token after its Revoke returned".into(),
            baseline: String::new(),
            target: format!("checked {} times", lags.len() + missing),
            result: format!("{accepted} times"),
            goal: "never".into(),
            verdict: if accepted == 0 {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        self.details.push(format!(
            "revocation lag (from Revoke returning on A to B answering inactive; {REVOKERS} revokers): p50 {}, p90 {}, p99 {}, max {}, never seen within {LAG_LIMIT:?}: {missing}; background load {} per replica: A p99 {}, B p99 {}",
            ms(q(0.5)),
            ms(q(0.9)),
            ms(p99),
            ms(max),
            rate(background_rate),
            ms(load_a.ok_quantile(0.99)),
            ms(load_b.ok_quantile(0.99)),
        ));
        Ok(())
    }

    /// Kills B's listening connection (pg_terminate_backend), revokes a token B has cached on A
    /// at once, and times until B refuses it; then waits for B's feed to come back.
    async fn listener_killed(&mut self) -> anyhow::Result<()> {
        let trials = self.options.kill_trials.max(1);
        let targets = store_tokens(&self.admin, trials, TokenKind::Api).await?;
        let channel = tessera_store::feed::CHANNEL;
        let (mut refusals, mut recoveries) = (Vec::new(), Vec::new());
        for token in targets {
            self.b.wait_trusted(Duration::from_secs(20)).await?;
            for _ in 0..2 {
                introspect(self.on_b.auth(0), self.caller.clone(), token.clone()).await?;
            }
            let killed: (i64,) = sqlx::query_as(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name = $1 AND query LIKE 'LISTEN%' AND query LIKE '%' || $2 || '%'",
            )
            .bind(&self.b.name)
            .bind(channel)
            .fetch_one(&self.admin)
            .await?;
            anyhow::ensure!(
                killed.0 == 1,
                "expected to kill 1 listening connection of B, killed {}",
                killed.0
            );
            let killed_at = Instant::now();
            let revoked = revoke(self.on_a.auth(0), self.caller.clone(), token.clone()).await?;
            anyhow::ensure!(revoked == 1, "Revoke revoked {revoked} tokens, expected 1");
            let returned = Instant::now();
            loop {
                if !introspect_active(self.on_b.auth(0), self.caller.clone(), token.clone()).await?
                {
                    refusals.push(returned.elapsed());
                    break;
                }
                if returned.elapsed() > REFUSAL_LIMIT {
                    refusals.push(returned.elapsed());
                    break;
                }
            }
            self.b.wait_trusted(Duration::from_secs(20)).await?;
            recoveries.push(killed_at.elapsed());
        }
        let worst = refusals.iter().max().copied().unwrap_or_default();
        self.rows.push(Row {
            scenario: format!(
                "B's listening connection killed, then revoke on A ({trials} trials)"
            ),
            baseline: String::new(),
            target: format!(
                "refused after {}",
                refusals
                    .iter()
                    .map(|d| ms(*d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            result: format!("max {}", ms(worst)),
            goal: "≤ 1 s".into(),
            verdict: if worst <= Duration::from_secs(1) {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        self.details.push(format!(
            "listener kill: B trusted its cache again (feed reconnected and replayed) {} after each kill",
            recoveries.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
        ));
        Ok(())
    }

    /// What the replicas' own Prometheus endpoints say about the run.
    async fn metrics_snapshot(&mut self) -> anyhow::Result<()> {
        let a = scrape(self.a.metrics_addr).await?;
        let b = scrape(self.b.metrics_addr).await?;
        let get = |text: &str, series: &str| metric(text, series).unwrap_or(f64::NAN);
        let lag_count = get(&b, "tessera_revocation_lag_seconds_count");
        let lag_sum = get(&b, "tessera_revocation_lag_seconds_sum");
        self.details.push(format!(
            "replica metrics (GET /metrics): A cache hits {:.0}, misses {:.0}, logins rejected {:.0}, Introspect calls {:.0}; B revocations dropped {lag_count:.0}, mean lag commit→drop {:.2} ms",
            get(&a, "tessera_cache_hits_total"),
            get(&a, "tessera_cache_misses_total"),
            get(&a, "tessera_logins_rejected_total{reason=\"overloaded\"}"),
            get(&a, "tessera_rpc_duration_seconds_count{method=\"/tessera.v1.AuthService/Introspect\"}"),
            lag_sum / lag_count * 1e3,
        ));
        Ok(())
    }
}

type CallFuture = std::pin::Pin<Box<dyn std::future::Future<Output = CallResult> + Send>>;

fn shorten(query: &str) -> String {
    let mut short: String = query.chars().take(60).collect();
    if short.len() < query.len() {
        short.push('…');
    }
    short
}
