//! Soak mode (issue 19): state that grows. One replica, its sweeper and a private PostgreSQL run
//! for a long time under three streams at once, and every `sample_every` the soak writes down what
//! each stream did and what the state looks like:
//!
//! * cached Introspect of a hot token, open loop at a fixed rate (latency from each call's
//!   scheduled send time);
//! * issue/revoke churn: workers each looping IssueToken (short TTL) → Introspect (must be
//!   active) → Revoke → Introspect (must be inactive: any acceptance is counted);
//! * a Login every `login_every`;
//! * a WatchRevocations follower (as an edge runs one), which times each revocation from its
//!   Revoke returning to the watcher receiving it, and resyncs from 0 if told RESYNC_REQUIRED.
//!
//! Each sample holds the streams' rates and p99s, the RSS of the process hosting the replica and
//! of the PostgreSQL processes, and the size, live and dead tuples of `tokens`, `revocations` and
//! `audit_events`. The verdict holds the run against issue 19's goals.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use tessera_core::{
    clock::{Clock, SystemClock},
    password::{Argon2Params, Password, PasswordHasher},
};
use tessera_proto::v1::{self as pb, auth_service_client::AuthServiceClient};
use tessera_rules::{
    role::Role,
    token::{TokenKind, TokenSecret},
};
use tessera_server::{
    settings::AuthSettings,
    sweeper::{self, Retention, SweeperSettings},
};
use tessera_store::{
    tokens::{self, NewToken},
    users::{self, NewUser},
    PgPool,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
    Code, Request, Status,
};
use uuid::Uuid;

use crate::{
    cluster::{Postgres, Replica, ReplicaConfig, TESSERA_DB},
    load::{open_loop, CallResult},
    report::{load_average, ms, rate, Environment, GoalVerdict, Report, Row},
};

mod measure;

use measure::{ProcessMemory, Spans, TableSize, Window, WindowSummary};

/// How long and how hard to soak.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Whole run.
    pub duration: Duration,
    /// One sample per this much time.
    pub sample_every: Duration,
    /// Cached Introspect calls per second (open loop).
    pub introspect_rate: f64,
    /// Issue/revoke workers (each a closed loop of one cycle at a time).
    pub churn_workers: usize,
    /// TTL of the churned tokens, as IssueToken takes it (`30s`).
    pub churn_ttl: String,
    /// One Login per this much time.
    pub login_every: Duration,
    /// The replica's `--sweep-interval` (the longest wait between sweeps).
    pub sweep_interval: Duration,
    /// The replica's `--revocation-retention` (short, so a run shows the bound).
    pub revocation_retention: Duration,
    /// The replica's `--audit-retention`.
    pub audit_retention: Duration,
    /// HTTP/2 connections the calls are spread over.
    pub connections: usize,
    /// Directory of the PostgreSQL binaries (default: found as `tessera dev` finds them).
    pub pg_bin: Option<PathBuf>,
    /// Whether commits wait for the WAL flush (production's default). Off by default in the
    /// soak, so a shared machine's disk stalls do not drown what the soak looks for.
    pub synchronous_commit: bool,
}

impl SoakOptions {
    /// Issue 19's run: 1,500 cached Introspects/s, two churn workers with 30 s tokens, a login
    /// every 10 s, a sample every 30 s, production's 5-minute sweep interval and a 10-minute feed
    /// retention (a 30-minute run then shows pruning keep the feed bounded).
    pub fn full(duration: Duration) -> SoakOptions {
        SoakOptions {
            duration,
            sample_every: Duration::from_secs(30),
            introspect_rate: 1500.0,
            churn_workers: 2,
            churn_ttl: "30s".into(),
            login_every: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(300),
            revocation_retention: Duration::from_secs(600),
            audit_retention: Duration::from_secs(600),
            connections: 4,
            pg_bin: None,
            synchronous_commit: false,
        }
    }

    /// A minute, sampled every 10 s, with everything shortened so that tokens expire, the sweeper
    /// runs and the feed is pruned within it: proves the mechanics, not the figures.
    pub fn smoke() -> SoakOptions {
        SoakOptions {
            duration: Duration::from_secs(60),
            sample_every: Duration::from_secs(10),
            introspect_rate: 300.0,
            churn_workers: 2,
            churn_ttl: "5s".into(),
            login_every: Duration::from_secs(5),
            sweep_interval: Duration::from_secs(5),
            revocation_retention: Duration::from_secs(15),
            audit_retention: Duration::from_secs(15),
            connections: 2,
            pg_bin: None,
            synchronous_commit: false,
        }
    }

    fn shape(&self) -> String {
        format!(
            "soak {:?}, sample every {:?}; cached Introspect open loop {}; {} issue/revoke workers with {} tokens; a login every {:?}; sweep interval {:?}, revocation retention {:?}, audit retention {:?}; synchronous_commit {}",
            self.duration,
            self.sample_every,
            rate(self.introspect_rate),
            self.churn_workers,
            self.churn_ttl,
            self.login_every,
            self.sweep_interval,
            self.revocation_retention,
            self.audit_retention,
            if self.synchronous_commit { "on" } else { "off" }
        )
    }
}

/// One sample: what each stream did during the window that ended `at` after the start, and the
/// state at that moment.
#[derive(Debug, Clone)]
pub struct SoakSample {
    /// End of the window, from the start.
    pub at: Duration,
    /// What the streams did.
    pub window: WindowSummary,
    /// Memory of the process hosting the replica, and of PostgreSQL.
    pub memory: ProcessMemory,
    /// `tokens`, `revocations`, `audit_events`.
    pub tables: Vec<TableSize>,
    /// Rows in `revocations` (counted).
    pub revocation_rows: i64,
    /// Revokes returned since the start.
    pub revokes_total: u64,
}

impl SoakSample {
    fn table(&self, name: &str) -> Option<&TableSize> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// A finished soak: the samples and the verdict.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Every sample, in order.
    pub samples: Vec<SoakSample>,
    /// The verdict table (rows as in the benchmark's report).
    pub report: Report,
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Samples")?;
        writeln!(f)?;
        writeln!(
            f,
            "| t | Introspect | p99 | cycles | cycle p99 | logins | feed lag p99 | replica process RSS | PostgreSQL RSS (private) | tokens live/dead, size | revocations rows, size | audit_events live/dead, size |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|---|---|")?;
        for s in &self.samples {
            let w = &s.window;
            let table = |name: &str, rows: Option<i64>| {
                s.table(name).map_or_else(String::new, |t| {
                    format!(
                        "{}/{}, {:.1} MB",
                        rows.unwrap_or(t.live),
                        t.dead,
                        (t.table_bytes + t.index_bytes) as f64 / 1e6
                    )
                })
            };
            writeln!(
                f,
                "| {:.0}s | {} | {} | {} | {} | {} | {} | {:.1} MB | {:.1} MB | {} | {} | {} |",
                s.at.as_secs_f64(),
                rate(w.introspect_rate()),
                ms(w.introspect_p99),
                rate(w.cycle_rate()),
                ms(w.cycle_p99),
                w.logins,
                w.lag_p99.map_or_else(|| "–".into(), ms),
                s.memory.replica_rss as f64 / 1e6,
                s.memory.postgres_private as f64 / 1e6,
                table("tokens", None),
                table("revocations", Some(s.revocation_rows)),
                table("audit_events", None),
            )?;
        }
        writeln!(f)?;
        write!(f, "{}", self.report)
    }
}

/// The calling service's `authorization` value.
#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    fn new(token: &str) -> anyhow::Result<Bearer> {
        Ok(Bearer(MetadataValue::try_from(format!("Bearer {token}"))?))
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        request
    }
}

/// Runs the soak. PostgreSQL and the replica are stopped before it returns, whatever happened.
pub async fn soak(options: SoakOptions) -> anyhow::Result<SoakReport> {
    anyhow::ensure!(
        options.sample_every >= Duration::from_secs(1) && options.duration >= options.sample_every,
        "the soak must last at least one sample interval, and samples be at least 1s apart"
    );
    let started = Instant::now();
    let postgres = Postgres::start(options.pg_bin.as_deref(), None).await?;
    let result = run(&postgres, &options).await;
    let stopped = postgres.stop().await;
    let mut report = result?;
    stopped.context("stopping postgresql")?;
    report.report.elapsed = started.elapsed();
    Ok(report)
}

const USERNAME: &str = "soak";
const PASSWORD: &str = "correct horse battery staple";

async fn run(postgres: &Postgres, options: &SoakOptions) -> anyhow::Result<SoakReport> {
    let mut environment = Environment::detect(postgres.version.clone(), options.shape());
    let admin = postgres.admin_pool().await?;
    tessera_store::migrate(&admin).await?;
    if !options.synchronous_commit {
        // The soak measures what grows, not the disk: on a shared VM other tenants' writes stall
        // WAL flushes for seconds (a COMMIT took 1.1 s in a run with this on), which would bury
        // every ratio. Each statement still runs exactly as in production.
        sqlx::query("ALTER SYSTEM SET synchronous_commit = off")
            .execute(&admin)
            .await?;
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&admin)
            .await?;
    }
    let password_hash = {
        let password = Password::new(PASSWORD.to_owned());
        tokio::task::spawn_blocking(move || {
            PasswordHasher::new(Argon2Params::default())?.hash(&password)
        })
        .await??
    };
    users::insert(
        &mut *admin.acquire().await?,
        &NewUser {
            id: Uuid::new_v4(),
            username: USERNAME.into(),
            display_name: "soak".into(),
            role: Role::Admin,
            password_hash,
            created_at: SystemClock.now(),
        },
    )
    .await?;
    let caller = insert_token(&admin, TokenKind::Service).await?;
    let hot = insert_token(&admin, TokenKind::Api).await?;

    let replica = Replica::start(
        postgres.url(TESSERA_DB, "soak"),
        ReplicaConfig {
            name: "soak".into(),
            auth: AuthSettings::default(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            test_before_acquire: true,
        },
    )
    .await?;
    let outcome = soak_replica(postgres, options, &admin, &replica, caller, hot).await;
    replica.stop().await;
    admin.close().await;
    let (samples, rows, details) = outcome?;
    environment.load_after = load_average();
    Ok(SoakReport {
        samples,
        report: Report {
            environment,
            rows,
            details,
            elapsed: Duration::ZERO,
        },
    })
}

/// Stores an unlimited token expiring in a day, directly; returns its secret.
async fn insert_token(pool: &PgPool, kind: TokenKind) -> anyhow::Result<String> {
    let secret = TokenSecret::generate(kind);
    let now = SystemClock.now();
    let service = kind == TokenKind::Service;
    tokens::insert(
        &mut *pool.acquire().await?,
        &NewToken {
            id: Uuid::new_v4(),
            hash: secret.hash(),
            kind,
            subject: None,
            parent_id: None,
            session_id: None,
            namespace: if service {
                "*".into()
            } else {
                "deploy.".into()
            },
            permissions: if service {
                vec!["introspect".into()]
            } else {
                vec!["read".into()]
            },
            elevated: false,
            description: "tessera-bench soak".into(),
            issued_at: now,
            expires_at: Some(now + time::Duration::days(1)),
            max_uses: None,
        },
    )
    .await?;
    Ok(secret.expose().to_owned())
}

type Outcome = (Vec<SoakSample>, Vec<Row>, Vec<String>);

async fn soak_replica(
    postgres: &Postgres,
    options: &SoakOptions,
    admin: &PgPool,
    replica: &Replica,
    caller: String,
    hot: String,
) -> anyhow::Result<Outcome> {
    // The sweeper as `serve` runs it, with the soak's retentions; it ends with this function.
    let _sweeper = BackgroundTask(sweeper::spawn(
        replica.authority.clone(),
        SweeperSettings {
            max_interval: options.sweep_interval,
            retention: Retention {
                revocations: time::Duration::try_from(options.revocation_retention)?,
                audit: Some(time::Duration::try_from(options.audit_retention)?),
            },
        },
    ));
    let mut clients = Vec::new();
    for _ in 0..options.connections.max(1) {
        let channel = Endpoint::from_shared(replica.url())?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .context("connecting to the replica")?;
        clients.push(AuthServiceClient::new(channel));
    }
    let clients = Arc::new(clients);
    let caller = Bearer::new(&caller)?;
    let session = clients[0]
        .clone()
        .login(pb::LoginRequest {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            totp_code: String::new(),
        })
        .await
        .context("the soak account's first login")?
        .into_inner()
        .token;
    let session = Bearer::new(&session)?;

    let window = Arc::new(Mutex::new(Window::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let accepted_after_revoke = Arc::new(AtomicU64::new(0));
    let revokes = Arc::new(AtomicU64::new(0));
    let resyncs = Arc::new(AtomicU64::new(0));
    let lag = Arc::new(LagPairs::default());

    let introspect = {
        let (clients, caller, window) = (Arc::clone(&clients), caller.clone(), Arc::clone(&window));
        tokio::spawn(open_loop(
            options.introspect_rate,
            options.duration,
            2_000,
            Arc::clone(&stop),
            move |n| {
                // Called on the schedule: latency counts from here, stalls included.
                let scheduled = Instant::now();
                let mut client = clients[n as usize % clients.len()].clone();
                let (caller, hot, window) = (caller.clone(), hot.clone(), Arc::clone(&window));
                async move {
                    let answer = client
                        .introspect(caller.request(pb::IntrospectRequest {
                            token: hot,
                            peek: false,
                        }))
                        .await;
                    let result: CallResult = match answer {
                        Ok(answer) if answer.get_ref().active => Ok(()),
                        Ok(_) => Err(Status::internal("the hot token read inactive")),
                        Err(status) => Err(status),
                    };
                    lock(&window).introspect(&result, scheduled.elapsed());
                    result
                }
            },
        ))
    };
    let mut churn = tokio::task::JoinSet::new();
    for worker in 0..options.churn_workers.max(1) {
        let cycle = Cycle {
            client: clients[worker % clients.len()].clone(),
            caller: caller.clone(),
            session: session.clone(),
            ttl: options.churn_ttl.clone(),
            lag: Arc::clone(&lag),
        };
        let (stop, window, accepted, revokes) = (
            Arc::clone(&stop),
            Arc::clone(&window),
            Arc::clone(&accepted_after_revoke),
            Arc::clone(&revokes),
        );
        churn.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = cycle.run(&accepted, &revokes).await;
                lock(&window).cycle(&result, started.elapsed());
                if result.is_err() {
                    // A failing server is not hammered in a tight loop.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }
    let logins = {
        let (client, stop, window, every) = (
            clients[0].clone(),
            Arc::clone(&stop),
            Arc::clone(&window),
            options.login_every,
        );
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                let answer = client
                    .clone()
                    .login(pb::LoginRequest {
                        username: USERNAME.into(),
                        password: PASSWORD.into(),
                        totp_code: String::new(),
                    })
                    .await;
                lock(&window).login(answer.map(|_| ()));
            }
        })
    };
    let watcher = tokio::spawn(follow_feed(
        clients[0].clone(),
        caller.clone(),
        Arc::clone(&lag),
        Arc::clone(&window),
        Arc::clone(&resyncs),
        Arc::clone(&stop),
    ));

    let started = Instant::now();
    let postmaster = postgres.postmaster_pid();
    let total = options
        .duration
        .as_nanos()
        .div_ceil(options.sample_every.as_nanos()) as usize;
    let mut spans = Spans::new(total);
    let mut samples = Vec::with_capacity(total);
    let mut sampled = started;
    let mut failure = None;
    while sampled.duration_since(started) < options.duration {
        let next = (sampled + options.sample_every).min(started + options.duration);
        tokio::time::sleep_until(next.into()).await;
        let mut taken = std::mem::take(&mut *lock(&window));
        taken.elapsed = sampled.elapsed();
        spans.add(samples.len(), &taken);
        sampled = Instant::now();
        let state = measure::tables(admin).await;
        let (tables, revocation_rows) = match state {
            Ok(state) => state,
            Err(err) => {
                failure = Some(err.context("sampling the tables"));
                break;
            }
        };
        samples.push(SoakSample {
            at: sampled.duration_since(started),
            window: taken.summary(),
            memory: ProcessMemory::read(postmaster),
            tables,
            revocation_rows,
            revokes_total: revokes.load(Ordering::Relaxed),
        });
        if let Some(last) = samples.last() {
            eprintln!("tessera-bench soak: {}", measure::progress_line(last));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = introspect.await;
    while churn.join_next().await.is_some() {}
    let _ = tokio::time::timeout(options.login_every + Duration::from_secs(5), logins).await;
    watcher.abort();
    if let Some(err) = failure {
        return Err(err);
    }
    let accepted = accepted_after_revoke.load(Ordering::Relaxed);
    let (rows, details) = verdict(
        options,
        &samples,
        &spans,
        accepted,
        resyncs.load(Ordering::Relaxed),
    );
    Ok((samples, rows, details))
}

/// Ends a background task when dropped.
struct BackgroundTask(tokio::task::JoinHandle<()>);

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One churn worker's cycle.
struct Cycle {
    client: AuthServiceClient<Channel>,
    caller: Bearer,
    session: Bearer,
    ttl: String,
    lag: Arc<LagPairs>,
}

impl Cycle {
    /// IssueToken → Introspect (active) → Revoke → Introspect (inactive, or counted in
    /// `accepted`).
    async fn run(&self, accepted: &AtomicU64, revokes: &AtomicU64) -> CallResult {
        let mut client = self.client.clone();
        let issued = client
            .issue_token(self.session.request(pb::IssueTokenRequest {
                ttl: self.ttl.clone(),
                description: "soak churn".into(),
                ..Default::default()
            }))
            .await?
            .into_inner();
        if !self.active(&issued.token).await? {
            return Err(Status::internal("a token just issued read inactive"));
        }
        let revoked = client
            .revoke(self.session.request(pb::RevokeRequest {
                target: Some(pb::revoke_request::Target::Token(issued.token.clone())),
                reason: "soak churn".into(),
                ..Default::default()
            }))
            .await?
            .into_inner()
            .revoked_count;
        self.lag.returned(&issued.token_id);
        revokes.fetch_add(1, Ordering::Relaxed);
        if revoked != 1 {
            return Err(Status::internal(format!(
                "Revoke revoked {revoked} tokens, expected 1"
            )));
        }
        if self.active(&issued.token).await? {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn active(&self, token: &str) -> Result<bool, Status> {
        Ok(self
            .client
            .clone()
            .introspect(self.caller.request(pb::IntrospectRequest {
                token: token.to_owned(),
                peek: false,
            }))
            .await?
            .into_inner()
            .active)
    }
}

/// Pairs each revocation's "Revoke returned" with "the watcher received it", whichever comes
/// first; the lag is the time from the first to the second when the watcher is later, else 0.
#[derive(Default)]
struct LagPairs {
    pending: Mutex<HashMap<String, Side>>,
    done: Mutex<Vec<Duration>>,
}

enum Side {
    Returned(Instant),
    Received,
}

/// Unmatched entries kept at most (a watcher that fell far behind must not grow the map).
const LAG_PENDING_LIMIT: usize = 100_000;

impl LagPairs {
    fn returned(&self, token_id: &str) {
        let mut pending = lock(&self.pending);
        match pending.remove(token_id) {
            Some(Side::Received) => lock(&self.done).push(Duration::ZERO),
            _ => {
                if pending.len() < LAG_PENDING_LIMIT {
                    pending.insert(token_id.to_owned(), Side::Returned(Instant::now()));
                }
            }
        }
    }

    fn received(&self, token_id: &str) {
        let mut pending = lock(&self.pending);
        match pending.remove(token_id) {
            Some(Side::Returned(at)) => lock(&self.done).push(at.elapsed()),
            _ => {
                if pending.len() < LAG_PENDING_LIMIT {
                    pending.insert(token_id.to_owned(), Side::Received);
                }
            }
        }
    }

    fn drain(&self) -> Vec<Duration> {
        std::mem::take(&mut *lock(&self.done))
    }
}

/// Follows WatchRevocations as an edge would: resumes after the last sequence on a broken
/// stream, and starts again from 0 when told RESYNC_REQUIRED.
async fn follow_feed(
    client: AuthServiceClient<Channel>,
    caller: Bearer,
    lag: Arc<LagPairs>,
    window: Arc<Mutex<Window>>,
    resyncs: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut after = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let stream = client
            .clone()
            .watch_revocations(caller.request(pb::WatchRevocationsRequest {
                after_sequence: after,
                ..Default::default()
            }))
            .await;
        let mut stream = match stream {
            Ok(stream) => stream.into_inner(),
            Err(status) => {
                after = resume_point(&status, after, &resyncs);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(revocation)) => {
                    after = revocation.sequence;
                    lag.received(&revocation.token_id);
                    let drained = lag.drain();
                    lock(&window).lags(&drained);
                }
                Ok(None) => break,
                Err(status) => {
                    after = resume_point(&status, after, &resyncs);
                    break;
                }
            }
        }
    }
}

/// Where to resume after `status` ended a stream: 0 after RESYNC_REQUIRED, else where it was.
fn resume_point(status: &Status, after: u64, resyncs: &AtomicU64) -> u64 {
    use tonic_types::StatusExt;
    let resync = status.code() == Code::FailedPrecondition
        && status
            .get_details_error_info()
            .is_some_and(|info| info.reason == "RESYNC_REQUIRED");
    if resync {
        resyncs.fetch_add(1, Ordering::Relaxed);
        0
    } else {
        after
    }
}

/// Holds the samples against issue 19's goals.
fn verdict(
    options: &SoakOptions,
    samples: &[SoakSample],
    spans: &Spans,
    accepted: u64,
    resyncs: u64,
) -> (Vec<Row>, Vec<String>) {
    let mut rows = Vec::new();
    let mut details = Vec::new();
    // Windows cut short by the end of the run are left out of the ratios.
    let full: Vec<&SoakSample> = samples
        .iter()
        .filter(|s| s.window.elapsed >= options.sample_every.mul_f64(0.9))
        .collect();
    let sixth = options.duration.div_f64(6.0);

    let rates: Vec<f64> = full.iter().map(|s| s.window.cycle_rate()).collect();
    if let (Some(first), Some(slowest)) = (
        rates.first().copied(),
        rates.iter().copied().min_by(f64::total_cmp),
    ) {
        let ratio = if first > 0.0 { slowest / first } else { 0.0 };
        rows.push(goal_row(
            "issue/revoke cycle rate, slowest window / first window",
            format!("first {}", rate(first)),
            format!("slowest {}", rate(slowest)),
            format!("{ratio:.2}×"),
            "≥ 0.8×",
            ratio >= 0.8,
        ));
    }

    let base = samples
        .iter()
        .find(|s| s.at >= sixth)
        .or_else(|| samples.first());
    if let (Some(base), Some(end)) = (base, samples.last()) {
        let growth = end.memory.replica_rss as f64 / base.memory.replica_rss.max(1) as f64 - 1.0;
        rows.push(goal_row(
            "replica process RSS growth, 1/6 of the run → end",
            format!(
                "{:.1} MB at {:.0?}",
                base.memory.replica_rss as f64 / 1e6,
                base.at
            ),
            format!(
                "{:.1} MB at {:.0?}",
                end.memory.replica_rss as f64 / 1e6,
                end.at
            ),
            format!("{:+.1} %", growth * 100.0),
            "≤ 5 %",
            growth <= 0.05,
        ));
    }

    if let Some(end) = samples.last() {
        // Every entry older than the retention is gone by the sweep after it expires, at most
        // `sweep_interval` later (plus one sample of granularity); the newest entry always stays.
        let horizon = options.revocation_retention + options.sweep_interval + options.sample_every;
        let since = end.at.checked_sub(horizon);
        let before = since
            .and_then(|t| samples.iter().rev().find(|s| s.at <= t))
            .map_or(0, |s| s.revokes_total);
        let bound = end.revokes_total - before + 1;
        rows.push(goal_row(
            "revocations rows at the end",
            format!("{} revoked in all", end.revokes_total),
            format!("bound {bound} (revoked in the last {horizon:.0?}, + 1)"),
            format!("{} rows", end.revocation_rows),
            "≤ bound",
            end.revocation_rows >= 0 && end.revocation_rows as u64 <= bound,
        ));
    }

    let checked: u64 = samples.iter().map(|s| s.window.cycles).sum();
    rows.push(goal_row(
        "tokens accepted after their revoke returned",
        String::new(),
        format!("checked {checked} times"),
        format!("{accepted} times"),
        "0",
        accepted == 0,
    ));

    if let Some((early, late)) = spans.p99s() {
        let ratio = late.as_secs_f64() / early.as_secs_f64().max(1e-9);
        rows.push(goal_row(
            &format!(
                "cached Introspect p99, last {n} / first {n} windows (a sixth of the run)",
                n = spans.windows()
            ),
            format!("first {}", ms(early)),
            format!("last {}", ms(late)),
            format!("{ratio:.2}×"),
            "≤ 1.5×",
            ratio <= 1.5,
        ));
    }

    let errors: u64 = samples.iter().map(|s| s.window.errors).sum();
    let first_error = samples.iter().find_map(|s| s.window.first_error.clone());
    rows.push(goal_row(
        "calls failed (Introspect, cycles, logins)",
        String::new(),
        String::new(),
        errors.to_string(),
        "0",
        errors == 0,
    ));
    if let Some(first_error) = first_error {
        details.push(format!("first failure: {first_error}"));
    }
    let introspects: u64 = samples.iter().map(|s| s.window.introspects).sum();
    let logins: u64 = samples.iter().map(|s| s.window.logins).sum();
    details.push(format!(
        "totals: {introspects} cached Introspects, {checked} issue/revoke cycles, {logins} logins; the feed watcher resynced {resyncs} times"
    ));
    if let Some(end) = samples.last() {
        details.push(format!(
            "end state: {}; PostgreSQL shared memory touched {:.1} MB",
            end.tables
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            end.memory.postgres_shared as f64 / 1e6
        ));
    }
    (rows, details)
}

fn goal_row(
    scenario: &str,
    baseline: String,
    target: String,
    result: String,
    goal: &str,
    met: bool,
) -> Row {
    Row {
        scenario: scenario.into(),
        baseline,
        target,
        result,
        goal: goal.into(),
        verdict: if met {
            GoalVerdict::Met
        } else {
            GoalVerdict::Missed
        },
    }
}
