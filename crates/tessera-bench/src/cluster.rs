//! What the benchmark runs against: a private embedded PostgreSQL (with `pg_stat_statements`) in a
//! temporary directory, and Tessera replicas started in this process, each with its own runtime,
//! its own connection pool (as a separate process would have) and a metrics listener.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{bail, Context};
use sqlx::{Connection, Executor, PgConnection};
use tessera_core::clock::SystemClock;
use tessera_server::{
    server::Server,
    service::Authority,
    settings::{AuthSettings, ServeSettings},
};
use tessera_store::{
    embedded::{find_bin_dir, EmbeddedOptions, EmbeddedPostgres},
    PgPool, PoolSettings,
};
use tokio::sync::oneshot;

/// Database holding Tessera's schema.
pub const TESSERA_DB: &str = "tessera";
/// Database `pgbench -i` fills.
pub const PGBENCH_DB: &str = "pgbench";

/// The benchmark's PostgreSQL.
pub struct Postgres {
    server: Option<EmbeddedPostgres>,
    bin_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    /// `SHOW server_version`.
    pub version: String,
}

impl Postgres {
    /// Starts a fresh cluster in a temporary directory (or `data_dir`), with `pg_stat_statements`
    /// preloaded (which takes one restart after `initdb`), and creates both databases.
    pub async fn start(bin_dir: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Self> {
        Postgres::start_with(bin_dir, data_dir, None).await
    }

    /// [`Postgres::start`] with `shared_buffers` set (e.g. `6GB`), in the same restart.
    pub async fn start_with(
        bin_dir: Option<&Path>,
        data_dir: Option<&Path>,
        shared_buffers: Option<&str>,
    ) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir(bin_dir)?;
        let (dir, data_dir) = match data_dir {
            Some(dir) => (None, dir.to_path_buf()),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("tessera-bench-")
                    .tempdir()
                    .context("creating a temporary directory for postgresql")?;
                // The supervisor creates (and, as root, hands over) the data directory itself;
                // the unprivileged server account only has to pass through this one.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
                let path = dir.path().join("pg");
                (Some(dir), path)
            }
        };
        let options = EmbeddedOptions {
            data_dir,
            bin_dir: Some(bin_dir.clone()),
        };
        let mut server = EmbeddedPostgres::start(options.clone())
            .await
            .context("starting the embedded postgresql")?;
        let mut conn = PgConnection::connect_with(&server.connect_options("postgres")).await?;
        let (preloaded,): (String,) = sqlx::query_as("SHOW shared_preload_libraries")
            .fetch_one(&mut conn)
            .await?;
        if let Some(size) = shared_buffers {
            anyhow::ensure!(
                size.chars().all(|c| c.is_ascii_alphanumeric()),
                "shared_buffers {size:?}: a size such as 6GB"
            );
            conn.execute(format!("ALTER SYSTEM SET shared_buffers = '{size}'").as_str())
                .await?;
        }
        if !preloaded.contains("pg_stat_statements") || shared_buffers.is_some() {
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
                .await?;
            conn.close().await?;
            server.shutdown().await?;
            server = EmbeddedPostgres::start(options)
                .await
                .context("restarting postgresql with pg_stat_statements")?;
        } else {
            conn.close().await?;
        }
        server.ensure_database(TESSERA_DB).await?;
        server.ensure_database(PGBENCH_DB).await?;
        let mut conn = PgConnection::connect_with(&server.connect_options(TESSERA_DB)).await?;
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await?;
        // Planning time too, so the report can tell planning from execution.
        conn.execute("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
            .await?;
        conn.execute("SELECT pg_reload_conf()").await?;
        let (version,): (String,) = sqlx::query_as("SHOW server_version")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        crate::cpu::count_postgres_of(server.pid());
        Ok(Postgres {
            server: Some(server),
            bin_dir,
            _dir: dir,
            version,
        })
    }

    /// Creates database `db` unless it exists.
    pub async fn ensure_database(&self, db: &str) -> anyhow::Result<()> {
        self.server().ensure_database(db).await?;
        Ok(())
    }

    fn server(&self) -> &EmbeddedPostgres {
        self.server.as_ref().expect("postgresql running")
    }

    /// URL of `db`, naming the connecting application (so its connections can be told apart in
    /// `pg_stat_activity`).
    pub fn url(&self, db: &str, application: &str) -> String {
        format!(
            "{}&application_name={application}",
            self.server().database_url(db)
        )
    }

    /// A pool for the benchmark's own set-up and inspection queries.
    pub async fn admin_pool(&self) -> anyhow::Result<PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&self.url(TESSERA_DB, "tessera-bench"))
            .await?)
    }

    /// Runs `pgbench` from the same installation with `args`, against the pgbench database over
    /// the same Unix socket Tessera uses; returns its standard output.
    pub async fn pgbench(&self, args: &[String]) -> anyhow::Result<String> {
        let server = self.server();
        let program = self.bin_dir.join("pgbench");
        let output = tokio::process::Command::new(&program)
            .args(args)
            .arg("-h")
            .arg(server.socket_dir())
            .args([
                "-p",
                &tessera_store::embedded::PORT.to_string(),
                "-U",
                tessera_store::embedded::SUPERUSER,
                PGBENCH_DB,
            ])
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {}", program.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "pgbench {args:?} failed ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(stdout)
    }

    /// Process id of the postmaster (its children are the backends), for memory figures.
    pub fn postmaster_pid(&self) -> Option<u32> {
        self.server.as_ref().map(EmbeddedPostgres::pid)
    }

    /// Stops the cluster (its temporary directory goes with `self`).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            server.shutdown().await?;
        }
        Ok(())
    }
}

/// How to configure one replica.
#[derive(Clone)]
pub struct ReplicaConfig {
    /// Also its `application_name` in PostgreSQL.
    pub name: String,
    /// Policy, cache and hashing-pool settings.
    pub auth: AuthSettings,
    /// Runtime worker threads.
    pub threads: usize,
    /// Whether the pool checks each connection with a round trip before handing it out, as
    /// `tessera_store::connect_lazy` (production) does; `false` is for experiments only.
    pub test_before_acquire: bool,
}

/// A Tessera replica serving on loopback from its own runtime thread.
pub struct Replica {
    /// Its `application_name`.
    pub name: String,
    /// gRPC address.
    pub addr: SocketAddr,
    /// Prometheus address.
    pub metrics_addr: SocketAddr,
    /// The replica's authority (to look at its cache).
    pub authority: Authority,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Replica {
    /// Starts a replica against `url` with the production pool settings, and waits until its
    /// revocation feed is live (the cache trusted) when its cache is enabled.
    pub async fn start(url: String, config: ReplicaConfig) -> anyhow::Result<Replica> {
        Replica::start_with(url, config, None).await
    }

    /// [`Replica::start`], with `dispatch` as the tracing subscriber of every thread of the
    /// replica's runtime (the trace-export overhead scenario).
    pub async fn start_traced(
        url: String,
        config: ReplicaConfig,
        dispatch: tracing::Dispatch,
    ) -> anyhow::Result<Replica> {
        Replica::start_with(url, config, Some(dispatch)).await
    }

    async fn start_with(
        url: String,
        config: ReplicaConfig,
        dispatch: Option<tracing::Dispatch>,
    ) -> anyhow::Result<Replica> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let name = config.name.clone();
        let cache_enabled = config.auth.cache_enabled;
        let thread = std::thread::Builder::new()
            .name(format!("replica-{name}"))
            .spawn(move || {
                let _default = dispatch.as_ref().map(tracing::dispatcher::set_default);
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .on_thread_start(move || {
                        if let Some(dispatch) = &dispatch {
                            // The worker keeps this subscriber for its whole life.
                            std::mem::forget(tracing::dispatcher::set_default(dispatch));
                        }
                    })
                    .worker_threads(config.threads.max(1))
                    .thread_name(format!("tessera-{}", config.name))
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!(err)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let bound = async {
                        let pool = if config.test_before_acquire {
                            tessera_store::connect_lazy(&url, &PoolSettings::default())?
                        } else {
                            let settings = PoolSettings::default();
                            sqlx::postgres::PgPoolOptions::new()
                                .max_connections(settings.max_connections)
                                .acquire_timeout(settings.acquire_timeout)
                                .test_before_acquire(false)
                                .connect_lazy(&url)?
                        };
                        let serve = ServeSettings {
                            listen: "127.0.0.1:0".parse()?,
                            metrics_listen: Some("127.0.0.1:0".parse()?),
                            ..ServeSettings::default()
                        };
                        Server::bind(pool, Arc::new(SystemClock), config.auth, serve).await
                    }
                    .await;
                    let server = match bound {
                        Ok(server) => server,
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            return;
                        }
                    };
                    let info = (|| {
                        Ok((
                            server.local_addr()?,
                            server
                                .metrics_addr()
                                .context("metrics listener not bound")?,
                            server.authority().clone(),
                        ))
                    })();
                    let failed = info.is_err();
                    let _ = ready_tx.send(info);
                    if failed {
                        return;
                    }
                    let _ = server
                        .serve(async move {
                            let _ = stop_rx.await;
                        })
                        .await;
                });
            })?;
        let (addr, metrics_addr, authority) = ready_rx
            .await
            .context("replica thread ended before binding")??;
        let replica = Replica {
            name,
            addr,
            metrics_addr,
            authority,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        if cache_enabled {
            replica.wait_trusted(Duration::from_secs(20)).await?;
        }
        Ok(replica)
    }

    /// Waits until the replica's cache is trusted (its revocation feed live).
    pub async fn wait_trusted(&self, limit: Duration) -> anyhow::Result<Duration> {
        let started = tokio::time::Instant::now();
        while !self.authority.cache_is_trusted() {
            if started.elapsed() > limit {
                bail!(
                    "replica {}: revocation feed not live within {limit:?}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(started.elapsed())
    }

    /// `http://addr` for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving; the runtime thread ends once open connections have drained.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join());
            let _ = tokio::time::timeout(Duration::from_secs(10), joined).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The text of `GET /metrics` on `addr`.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut text)).await??;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok(body)
}

/// The value of the sample `series` (name with labels) in exposition `text`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}
