//! The embedded PostgreSQL supervisor (DESIGN.md §1, "Embedded default").
//!
//! Runs a private cluster from the machine's PostgreSQL binaries: `initdb` once into
//! `<data_dir>/pgdata`, then `postgres` listening only on a Unix socket in `<data_dir>/run`,
//! logging to `<data_dir>/postgres.log`. As root it runs both as the `postgres` (else `nobody`)
//! account, because they refuse root.
//!
//! When run as root and that account cannot reach the data dir (a checkout in `/root`, a
//! `mktemp -d` folder), the cluster lives in a per-data-dir folder under [`RELOCATION_ROOT`]
//! instead, found again on every run (see `relocation`).
//!
//! A server that is already running on the data directory (left by a crashed `tessera dev`, or
//! the test suite's shared cluster) is reused rather than fought over. Ownership decides shutdown:
//! [`EmbeddedPostgres::stop`] and `Drop` stop only a server this supervisor started, so a reuser
//! never pulls the database from under whoever started it; [`EmbeddedPostgres::shutdown`] stops
//! it either way, for callers that own the data directory outright.

mod binaries;
mod cluster;
mod database;
mod error;
mod privileges;
mod process;
mod relocation;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::Connection;
use tokio::process::Child;
use tokio::time::{sleep, timeout, Instant};
use tracing::{info, warn};

pub use binaries::find_bin_dir;
use cluster::Layout;
pub(crate) use database::{create_database, validate_database_name};
pub use error::EmbeddedError;
pub use process::tied_command;
use process::Postmaster;
pub use relocation::{relocated_cluster, reset, POINTER_FILE, RELOCATION_ROOT};

/// The cluster's superuser (`initdb -U`); local connections are trusted, the socket is private.
pub const SUPERUSER: &str = "tessera";
/// Port number in the socket's name (`.s.PGSQL.5432`); nothing listens on TCP.
pub const PORT: u16 = 5432;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Long enough for another supervisor to `initdb` and start the cluster we then reuse.
const LOCK_TIMEOUT: Duration = Duration::from_secs(240);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// SIGINT (fast: roll back, checkpoint), then SIGQUIT (immediate), then SIGKILL.
const SHUTDOWN_LADDER: [(Signal, Duration); 3] = [
    (Signal::SIGINT, Duration::from_secs(30)),
    (Signal::SIGQUIT, Duration::from_secs(10)),
    (Signal::SIGKILL, Duration::from_secs(5)),
];
const LOG_TAIL_LINES: usize = 25;

/// Where the embedded cluster lives and which binaries run it.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Holds `pgdata/`, `run/` (the socket), `postgres.log` and a lock file; created if missing.
    pub data_dir: PathBuf,
    /// Directory with `initdb` and `postgres`; `None` searches as [`find_bin_dir`] does.
    pub bin_dir: Option<PathBuf>,
}

/// A running embedded PostgreSQL; see the module docs for who stops it.
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    pid: Pid,
    relocated_from: Option<PathBuf>,
    /// Present while this supervisor started the server and has not stopped or detached it.
    child: Option<Child>,
}

impl EmbeddedPostgres {
    /// Starts the cluster in `opts.data_dir` (running `initdb` first if it has never been
    /// initialised), or reuses the one already running there, and returns once it accepts
    /// connections.
    pub async fn start(opts: EmbeddedOptions) -> Result<EmbeddedPostgres, EmbeddedError> {
        Self::launch(opts, false).await
    }

    /// Like [`Self::start`], but a server it starts is tied to this process: it gets a fast
    /// shutdown when the process dies, whatever the signal (see [`tied_command`]). For a
    /// supervisor that owns the data dir outright (`tessera dev`), not for a cluster meant to
    /// outlive its starter (the tests' shared one).
    pub async fn start_tied(opts: EmbeddedOptions) -> Result<EmbeddedPostgres, EmbeddedError> {
        Self::launch(opts, true).await
    }

    async fn launch(opts: EmbeddedOptions, tied: bool) -> Result<EmbeddedPostgres, EmbeddedError> {
        let layout = blocking(move || Layout::prepare(&opts)).await?;
        let _lock =
            process::lock_data_dir(&layout.data_dir.join("supervisor.lock"), LOCK_TIMEOUT).await?;

        if let Some(pid) = reusable_server(&layout).await? {
            info!(data_dir = %layout.data_dir.display(), pid = pid.as_raw(), "reusing running embedded postgresql");
            return Ok(Self::from_layout(layout, pid, None));
        }

        let log = layout.open_log()?;
        if !layout.pgdata.join("PG_VERSION").exists() {
            cluster::initdb(&layout, &log).await?;
        }
        if let Some(user) = layout.run_as.clone() {
            let (pgdata, log_path) = (layout.pgdata.clone(), layout.log_path.clone());
            blocking(move || {
                privileges::chown_tree(&pgdata, &user)?;
                privileges::chown_tree(&log_path, &user)
            })
            .await?;
        }

        let mut child = cluster::spawn_postgres(&layout, &log, tied)?;
        let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) else {
            let status = child.wait().await.ok();
            return Err(EmbeddedError::StartFailed {
                reason: format!("postgres exited at once ({status:?})"),
                tail: process::log_tail(&layout.log_path, LOG_TAIL_LINES),
                log: layout.log_path,
            });
        };
        let pid = Pid::from_raw(pid);
        let mut server = Self::from_layout(layout, pid, Some(child));
        if let Err(err) = server.wait_ready().await {
            // Do not leave a half-started server behind; the error already says why.
            let _ = server.stop_owned().await;
            return Err(err);
        }
        info!(data_dir = %server.data_dir.display(), pid = pid.as_raw(), "embedded postgresql ready");
        Ok(server)
    }

    fn from_layout(layout: Layout, pid: Pid, child: Option<Child>) -> Self {
        Self {
            data_dir: layout.data_dir,
            socket_dir: layout.socket_dir,
            log_path: layout.log_path,
            pid,
            relocated_from: layout.relocated_from,
            child,
        }
    }

    /// URL of the `postgres` maintenance database, for administrative connections.
    pub fn admin_url(&self) -> String {
        self.database_url("postgres")
    }

    /// URL of database `db` over the private socket, understood by sqlx and libpq alike:
    /// `postgres://tessera@localhost:5432/<db>?host=<socket dir>&sslmode=disable`.
    pub fn database_url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost:{PORT}/{}?host={}&sslmode=disable",
            database::percent_encode(db, false),
            database::percent_encode(&self.socket_dir.to_string_lossy(), true),
        )
    }

    /// Connection options for database `db`, equivalent to [`Self::database_url`].
    pub fn connect_options(&self, db: &str) -> PgConnectOptions {
        socket_options(&self.socket_dir, db)
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The supervisor's data directory (absolute, symlinks resolved).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The data dir that was asked for, when the unprivileged user could not reach it and the
    /// cluster lives in [`Self::data_dir`] under [`RELOCATION_ROOT`] instead.
    pub fn relocated_from(&self) -> Option<&Path> {
        self.relocated_from.as_deref()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Process id of the postmaster.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }

    /// True when [`Self::start`] found the server already running rather than starting it.
    pub fn reused(&self) -> bool {
        self.child.is_none()
    }

    /// Creates database `name` unless it exists. Names are limited to `[a-z_][a-z0-9_]*`, at
    /// most 63 bytes, so they never need quoting games.
    pub async fn ensure_database(&self, name: &str) -> Result<(), EmbeddedError> {
        validate_database_name(name)?;
        let mut conn = PgConnection::connect_with(&self.connect_options("postgres"))
            .await
            .map_err(|source| EmbeddedError::Sql {
                action: "connect to the embedded postgresql",
                source,
            })?;
        let created =
            create_database(&mut conn, name)
                .await
                .map_err(|source| EmbeddedError::Sql {
                    action: "create the database",
                    source,
                })?;
        let _ = conn.close().await;
        if created {
            info!(database = name, "database created");
        }
        Ok(())
    }

    /// Stops the server if this supervisor started it (fast shutdown, waiting for it to exit,
    /// escalating to immediate shutdown and then SIGKILL). A reused server is left running.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        if self.child.is_none() {
            info!(data_dir = %self.data_dir.display(), "leaving reused embedded postgresql running");
            return Ok(());
        }
        self.stop_owned().await
    }

    /// Stops the server whether or not this supervisor started it.
    pub async fn shutdown(mut self) -> Result<(), EmbeddedError> {
        if self.child.is_some() {
            return self.stop_owned().await;
        }
        for (signal, grace) in SHUTDOWN_LADDER {
            process::send(self.pid, signal)?;
            if process::wait_gone(self.pid, grace).await {
                info!(data_dir = %self.data_dir.display(), "embedded postgresql stopped");
                return Ok(());
            }
            warn!(pid = self.pid.as_raw(), signal = %signal, "postgresql still running, escalating");
        }
        Err(EmbeddedError::StopTimeout {
            pid: self.pid.as_raw(),
        })
    }

    /// Gives up ownership: the server keeps running after this supervisor (and this process)
    /// is gone, and the next [`Self::start`] on the data directory reuses it.
    pub fn detach(mut self) {
        if self.child.take().is_some() {
            info!(data_dir = %self.data_dir.display(), pid = self.pid.as_raw(), "embedded postgresql left running");
        }
    }

    async fn stop_owned(&mut self) -> Result<(), EmbeddedError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        for (signal, grace) in SHUTDOWN_LADDER {
            process::send(self.pid, signal)?;
            match timeout(grace, child.wait()).await {
                Ok(Ok(status)) => {
                    info!(data_dir = %self.data_dir.display(), %status, "embedded postgresql stopped");
                    return Ok(());
                }
                Ok(Err(err)) => return Err(EmbeddedError::io("wait for", &self.data_dir, err)),
                Err(_elapsed) => {
                    warn!(pid = self.pid.as_raw(), signal = %signal, "postgresql still running, escalating");
                }
            }
        }
        Err(EmbeddedError::StopTimeout {
            pid: self.pid.as_raw(),
        })
    }

    async fn wait_ready(&mut self) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut interval = Duration::from_millis(20);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(self.start_failed(format!("postgres exited ({status})")));
                }
            }
            if probe(&self.connect_options("postgres")).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.start_failed(format!(
                    "no connection on {} within {}s",
                    self.socket_dir.display(),
                    READY_TIMEOUT.as_secs()
                )));
            }
            sleep(interval).await;
            interval = (interval * 2).min(Duration::from_millis(250));
        }
    }

    fn start_failed(&self, reason: String) -> EmbeddedError {
        EmbeddedError::StartFailed {
            reason,
            log: self.log_path.clone(),
            tail: process::log_tail(&self.log_path, LOG_TAIL_LINES),
        }
    }
}

impl Drop for EmbeddedPostgres {
    /// Best effort, no waiting: ask a server we started for a fast shutdown, so a supervisor
    /// dropped on an error path or a panic does not leave postgres behind.
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            if child.id().is_some() {
                let _ = process::send(self.pid, Signal::SIGINT);
            }
        }
    }
}

impl std::fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("data_dir", &self.data_dir)
            .field("socket_dir", &self.socket_dir)
            .field("pid", &self.pid.as_raw())
            .field("reused", &self.reused())
            .finish()
    }
}

/// The pid of a server already serving this data directory and answering on our socket, if
/// any. A stale pid file (and the socket lock it implies) is removed so postgres can start.
async fn reusable_server(layout: &Layout) -> Result<Option<Pid>, EmbeddedError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let options = socket_options(&layout.socket_dir, "postgres");
    loop {
        match process::inspect_postmaster(&layout.pgdata)? {
            Postmaster::Absent => return Ok(None),
            Postmaster::Stale => {
                warn!(data_dir = %layout.data_dir.display(), "removing stale postgresql pid file");
                let socket = layout.socket_dir.join(format!(".s.PGSQL.{PORT}"));
                let socket_lock = layout.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
                for path in [layout.pgdata.join("postmaster.pid"), socket, socket_lock] {
                    match fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                        Err(err) => return Err(EmbeddedError::io("remove", path, err)),
                    }
                }
                return Ok(None);
            }
            // It may still be starting up, or shutting down (then the pid file goes away).
            Postmaster::Live(pid) => {
                if probe(&options).await {
                    return Ok(Some(pid));
                }
                if Instant::now() >= deadline {
                    return Err(EmbeddedError::ForeignServer {
                        pid: pid.as_raw(),
                        data_dir: layout.pgdata.clone(),
                        socket_dir: layout.socket_dir.clone(),
                    });
                }
                sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Every setting given explicitly, so no `PG*` variable in the environment changes the target.
fn socket_options(socket_dir: &Path, db: &str) -> PgConnectOptions {
    PgConnectOptions::new_without_pgpass()
        .socket(socket_dir)
        .port(PORT)
        .username(SUPERUSER)
        .database(db)
        .ssl_mode(PgSslMode::Disable)
}

/// True when a connection succeeds: the server is up and past recovery.
async fn probe(options: &PgConnectOptions) -> bool {
    match timeout(PROBE_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            true
        }
        _ => false,
    }
}

/// Runs blocking work (file-system walks, `pg_config`) off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}
