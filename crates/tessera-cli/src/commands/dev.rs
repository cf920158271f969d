//! `tessera dev`: everything on one machine. An embedded PostgreSQL tied to this process, the
//! gRPC server, a bootstrapped admin account and service token, and with `--edges` both edges.
//!
//! It never hurts what already runs: one instance per data dir (a second one refuses at once,
//! naming the first, see [`instance`]), ports checked before anything starts or any credential is
//! printed, and every child (PostgreSQL, edges) stops with it, on Ctrl-C, SIGTERM, SIGHUP (the
//! terminal closed) or SIGQUIT in order, and through a parent-death signal on anything harsher.

use std::{path::Path, sync::Arc};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tessera_core::{
    clock::{Clock, SystemClock},
    password::Password,
    seal::SealingKey,
};
use tessera_rules::{role::Role, token::TokenKind};
use tessera_store::{
    embedded::{EmbeddedOptions, EmbeddedPostgres},
    users::{self, NewUser},
    PgPool, PoolSettings,
};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{info, warn};
use uuid::Uuid;

use tessera_server::{bootstrap, server::Server, service::IssueRequest, settings::Redacted};

use crate::{cli::DevArgs, credentials::write_private};

pub mod banner;
pub mod edges;
pub mod instance;

use instance::{check_ports, Instance};

/// The signals that stop `tessera dev` in order. Registered first thing, so one arriving while
/// PostgreSQL starts is not lost (nor fatal with children left behind): it stops the run as soon
/// as the server is up.
pub struct StopSignals(Vec<(Signal, &'static str)>);

impl StopSignals {
    /// Installs the handlers.
    pub fn install() -> anyhow::Result<StopSignals> {
        let mut signals = Vec::new();
        for (kind, name) in [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
        ] {
            signals.push((signal(kind).context("installing signal handlers")?, name));
        }
        Ok(StopSignals(signals))
    }

    /// Resolves with the first of them to arrive.
    pub async fn recv(mut self) {
        let waits = self.0.iter_mut().map(|(signal, name)| {
            Box::pin(async move {
                signal.recv().await;
                *name
            })
        });
        let (name, _, _) = futures::future::select_all(waits).await;
        info!(signal = name, "shutting down");
    }
}

/// The dev admin's credentials, kept in the data directory so later runs can log in again.
#[derive(Serialize, Deserialize)]
struct DevAdmin {
    username: String,
    password: String,
}

/// What `dev --ready-file` writes once serving.
#[derive(Serialize)]
struct ReadyInfo<'a> {
    grpc_addr: String,
    database_url: &'a str,
    admin_username: &'a str,
    admin_password: &'a str,
    admin_token: &'a str,
    service_token: &'a str,
    pid: u32,
}

/// `tessera dev`.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let signals = StopSignals::install()?;
    let mut auth = args.auth.settings()?;
    let plan = args.auth.bootstrap_plan()?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating --data-dir {}", args.data_dir.display()))?;
    let mut data_dir = std::fs::canonicalize(&args.data_dir)?;
    if args.reset {
        // Only when no other `tessera dev` holds the data dir (the claim refuses, naming it).
        drop(Instance::claim(&data_dir)?);
        for removed in tessera_store::embedded::reset(&data_dir)? {
            eprintln!("tessera dev: --reset removed {}", removed.display());
        }
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating --data-dir {}", data_dir.display()))?;
        data_dir = std::fs::canonicalize(&data_dir)?;
    }
    let mut instance = Instance::claim(&data_dir)?;
    let mut ports = vec![("--listen", args.listen.listen)];
    if args.edges.edges {
        ports.extend([
            ("--http-edge-listen", args.edges.http_edge_listen),
            ("--line-edge-listen", args.edges.line_edge_listen),
            ("--line-demo-listen", args.edges.line_demo_listen),
        ]);
    }
    check_ports(&ports)?;

    let options = EmbeddedOptions {
        data_dir: data_dir.clone(),
        bin_dir: args.pg_bin_dir.clone(),
    };
    if !data_dir.join("pgdata").exists()
        && !data_dir
            .join(tessera_store::embedded::POINTER_FILE)
            .exists()
    {
        eprintln!("tessera dev: first run in {}: creating the PostgreSQL cluster (initdb), this takes a few seconds…", data_dir.display());
    }
    let mut postgres = EmbeddedPostgres::start_tied(options.clone())
        .await
        .context("starting the embedded PostgreSQL")?;
    if postgres.reused() {
        // No live `tessera dev` holds this data dir (we hold its lock), so this one was left
        // behind by a crashed run: stop it and start our own, tied to this process.
        warn!(
            pid = postgres.pid(),
            "recovering the postgresql a crashed tessera dev left running"
        );
        postgres
            .shutdown()
            .await
            .context("stopping the postgresql left by a crashed run")?;
        postgres = EmbeddedPostgres::start_tied(options)
            .await
            .context("starting the embedded PostgreSQL")?;
    }
    if let Some(asked) = postgres.relocated_from() {
        eprintln!(
            "tessera dev: PostgreSQL's user cannot reach {}; its cluster lives in {} (kept across runs)",
            asked.display(),
            postgres.data_dir().display()
        );
    }
    let result = dev_with_postgres(
        &postgres,
        &data_dir,
        &mut auth,
        plan,
        &args,
        &mut instance,
        signals,
    )
    .await;
    if let Err(err) = postgres.stop().await {
        warn!(error = %err, "stopping the embedded postgresql failed");
    }
    result
}

async fn dev_with_postgres(
    postgres: &EmbeddedPostgres,
    data_dir: &Path,
    auth: &mut tessera_server::settings::AuthSettings,
    plan: Option<bootstrap::BootstrapPlan>,
    args: &DevArgs,
    instance: &mut Instance,
    signals: StopSignals,
) -> anyhow::Result<()> {
    postgres.ensure_database("tessera").await?;
    let database_url = postgres.database_url("tessera");
    let pool = tessera_store::connect_lazy(&database_url, &PoolSettings::default())?;
    tessera_store::migrate(&pool)
        .await
        .context("running migrations")?;
    if auth.totp_key.is_none() {
        auth.totp_key = Some(Redacted(dev_totp_key(&data_dir.join("totp.key"))?));
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server = Server::bind(
        pool.clone(),
        Arc::clone(&clock),
        auth.clone(),
        args.listen.settings()?,
    )
    .await?;
    let authority = server.authority().clone();
    if let Some(plan) = plan {
        bootstrap::apply(plan, &authority, &pool, clock.as_ref()).await?;
    }
    tessera_server::server::start_background(
        &authority,
        args.auth.sweeper_settings(auth)?,
        args.auth.tokens_file.clone(),
    )
    .await?;
    let credentials = dev_credentials(data_dir, &authority, &pool, clock.as_ref()).await?;
    let addr = server.local_addr()?;
    instance.record(|info| info.grpc = Some(addr.to_string()))?;
    let banner = banner::Banner::new(addr, data_dir);
    announce(&banner, args, addr, &database_url, &credentials)?;
    // Serve first: the edges check their service token against this server as they start.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watch_postgres = watch_postgres(postgres);
    let serving = tokio::spawn(server.serve(async move {
        tokio::select! {
            () = signals.recv() => {}
            _ = stop_rx => {}
        }
    }));
    let edges = if args.edges.edges {
        let service = credentials.service.token.expose();
        match edges::Edges::start(&args.edges, addr, service, data_dir).await {
            Ok(edges) => {
                instance.record(|info| {
                    info.http_edge = Some(edges.http.clone());
                    info.line_edge = Some(edges.line.clone());
                })?;
                let session = credentials.session.token.expose();
                println!("{}", banner.edges(&edges, session));
                Some(edges)
            }
            Err(err) => {
                let _ = stop_tx.send(());
                let _ = serving.await;
                return Err(err);
            }
        }
    } else {
        None
    };
    let served = serving.await.context("the gRPC server task failed");
    drop(stop_tx);
    if let Some(edges) = edges {
        edges.stop().await;
    }
    watch_postgres.abort();
    served?
}

/// What a dev stack hands its user: the admin account, a session of it, and a service token.
struct DevCredentials {
    admin: DevAdmin,
    session: tessera_server::service::LoginOutcome,
    service: tessera_server::service::IssuedToken,
}

/// The dev admin (made once, kept in `dev-admin.json`), logged in, and an introspect-only service
/// token derived from its session.
async fn dev_credentials(
    data_dir: &Path,
    authority: &tessera_server::service::Authority,
    pool: &PgPool,
    clock: &dyn Clock,
) -> anyhow::Result<DevCredentials> {
    let admin = dev_admin(&data_dir.join("dev-admin.json"), authority, pool, clock).await?;
    let session = authority
        .login(
            &admin.username,
            Password::new(admin.password.clone()),
            "",
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("logging in the dev admin: {e}"))?;
    let caller = authority
        .authenticate(Some(&session.token))
        .await
        .map_err(|e| anyhow::anyhow!("dev admin session: {e}"))?;
    let service = authority
        .issue(
            &caller,
            IssueRequest {
                // As long as the admin session it derives from (a child never outlives its parent).
                ttl: caller
                    .expires_at
                    .map(|at| tessera_rules::ttl::format_ttl(at - clock.now()))
                    .unwrap_or_default(),
                permissions: vec!["introspect".into()],
                description: "dev service token (introspect only)".into(),
                kind: TokenKind::Service,
                ..IssueRequest::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("issuing the dev service token: {e}"))?;
    Ok(DevCredentials {
        admin,
        session,
        service,
    })
}

/// The banner on stdout and, when asked for, the ready file (0600: it holds the secrets).
fn announce(
    banner: &banner::Banner,
    args: &DevArgs,
    addr: std::net::SocketAddr,
    database_url: &str,
    credentials: &DevCredentials,
) -> anyhow::Result<()> {
    let DevCredentials {
        admin,
        session,
        service,
    } = credentials;
    println!(
        "{}",
        banner.server(
            database_url,
            &admin.username,
            &admin.password,
            session.token.expose(),
            service.token.expose(),
        )
    );
    if let Some(path) = &args.ready_file {
        let info = ReadyInfo {
            grpc_addr: addr.to_string(),
            database_url,
            admin_username: &admin.username,
            admin_password: &admin.password,
            admin_token: session.token.expose(),
            service_token: service.token.expose(),
            pid: std::process::id(),
        };
        write_private(path, serde_json::to_string_pretty(&info)?.as_bytes())
            .with_context(|| format!("writing --ready-file {}", path.display()))?;
    }
    Ok(())
}

/// Says at once when the embedded PostgreSQL dies (killed, out of memory, its disk full): the
/// server keeps running and answers UNAVAILABLE (fail closed, as against any database outage),
/// which alone looked like a silent hang from the terminal.
fn watch_postgres(postgres: &EmbeddedPostgres) -> tokio::task::JoinHandle<()> {
    let postgres_pid = postgres.pid();
    let postgres_log = postgres.log_path().to_path_buf();
    tokio::spawn(async move {
        exited(postgres_pid).await;
        tracing::error!(pid = postgres_pid, log = %postgres_log.display(),
            "the embedded postgresql exited; tessera answers UNAVAILABLE until it is back: restart tessera dev");
        eprintln!(
            "tessera dev: the embedded PostgreSQL (pid {postgres_pid}) exited; every call now fails with UNAVAILABLE. Restart tessera dev (Ctrl-C, then again); PostgreSQL's log: {}",
            postgres_log.display()
        );
    })
}

/// Resolves once process `pid` is gone (or only a zombie waiting to be reaped).
async fn exited(pid: u32) {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let gone = state
            .rsplit_once(')')
            .is_none_or(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
        if gone {
            return;
        }
    }
}

async fn dev_admin(
    path: &Path,
    authority: &tessera_server::service::Authority,
    pool: &PgPool,
    clock: &dyn Clock,
) -> anyhow::Result<DevAdmin> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not valid; start over with `tessera dev --reset`",
                path.display()
            )
        });
    }
    let admin = DevAdmin {
        username: "admin".into(),
        password: random_password(),
    };
    if users::find_by_username(pool, &admin.username)
        .await?
        .is_some()
    {
        bail!(
            "the dev database has an admin account but {} is missing; start over with `tessera dev --reset` (or `scripts/dev.sh --reset`): it removes the data directory and the PostgreSQL cluster that serves it, wherever that lives",
            path.display()
        );
    }
    let password_hash = authority
        .hash_password(Password::new(admin.password.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn = pool.acquire().await?;
    users::insert(
        &mut conn,
        &NewUser {
            id: Uuid::new_v4(),
            username: admin.username.clone(),
            display_name: "Dev Admin".into(),
            role: Role::Admin,
            password_hash,
            created_at: clock.now(),
        },
    )
    .await?;
    write_private(path, serde_json::to_string(&admin)?.as_bytes())?;
    Ok(admin)
}

fn dev_totp_key(path: &Path) -> anyhow::Result<SealingKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => SealingKey::from_base64(text.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(_) => {
            let key = SealingKey::generate();
            write_private(path, key.to_base64().as_bytes())?;
            Ok(key)
        }
    }
}

fn random_password() -> String {
    use rand::{distributions::Alphanumeric, Rng};
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}
