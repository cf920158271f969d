//! Test support for every crate's tests: a fresh, migrated database per test.
//!
//! A normal public module (not `cfg(test)`) because other crates' tests use it. Being test
//! support, it reads the environment, which library code otherwise never does:
//!
//! * `DATABASE_URL`: when set, test databases are created on that server (the URL's user needs
//!   `CREATEDB`).
//! * Otherwise one embedded PostgreSQL shared by every test process on the machine runs in
//!   `<target dir>/tessera-test-pg`; the target dir is `CARGO_TARGET_DIR`, else the `target`
//!   beside the workspace's `Cargo.lock`. `TESSERA_PG_BIN` names its binaries' directory (else
//!   [`find_bin_dir`](crate::embedded::find_bin_dir) searches). The first test to need it starts
//!   it; it keeps running between test runs so the next run skips `initdb` and start-up, and
//!   `scripts/test.sh` stops it at the end. Concurrent test processes are serialised by the
//!   supervisor's lock on the data directory, so only one of them ever runs `initdb`.
//!
//! Each [`TestDatabase`] is a new database `tessera_test_<random>`, migrated by the caller's
//! migrator. Databases are not dropped automatically (that needs a runtime in `Drop`); call
//! [`TestDatabase::cleanup`] when it matters. They only ever accumulate in a test cluster.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, Executor, PgPool};
use tokio::sync::OnceCell;

use crate::embedded::{self, EmbeddedError, EmbeddedOptions, EmbeddedPostgres};

/// Every test database's name starts with this.
pub const TEST_DATABASE_PREFIX: &str = "tessera_test_";
/// The shared test cluster's directory inside the cargo target dir.
pub const SHARED_CLUSTER_DIR: &str = "tessera-test-pg";

const POOL_SIZE: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a test database could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestDbError {
    /// `DATABASE_URL` could not be parsed.
    #[error("invalid DATABASE_URL: {0}")]
    InvalidDatabaseUrl(#[source] sqlx::Error),

    /// No cargo target directory to hold the shared cluster.
    #[error(
        "no cargo target dir found (looked for Cargo.lock above {searched}); set CARGO_TARGET_DIR \
         or DATABASE_URL"
    )]
    TargetDirNotFound { searched: String },

    /// The shared embedded cluster could not be started.
    #[error("shared test postgresql: {0}")]
    Embedded(#[from] EmbeddedError),

    /// A statement against the test server failed.
    #[error("could not {action}: {source}")]
    Sql {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// The caller's migrations failed on the new database.
    #[error("could not migrate test database {name}: {source}")]
    Migrate {
        name: String,
        #[source]
        source: MigrateError,
    },
}

/// A fresh database on the test server, migrated, with a pool to it.
pub struct TestDatabase {
    /// Pool to the new database.
    pub pool: PgPool,
    /// URL of the new database (for code under test that takes a URL).
    pub url: String,
    /// Name of the new database, `tessera_test_<32 hex digits>`.
    pub name: String,
    admin: PgConnectOptions,
}

/// The server test databases are created on. Plain data only: each test has its own runtime,
/// and pools or connections must not outlive the runtime that made them.
#[derive(Clone)]
struct TestServer {
    admin: PgConnectOptions,
    admin_url: String,
}

static SERVER: OnceCell<TestServer> = OnceCell::const_new();

impl TestDatabase {
    /// Creates `tessera_test_<random>` on the test server (see the module docs), runs `migrator`
    /// on it and returns a pool to it: `TestDatabase::new(&tessera_store::MIGRATOR)`.
    pub async fn new(migrator: &Migrator) -> Result<TestDatabase, TestDbError> {
        let server = SERVER.get_or_try_init(test_server).await?;
        let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::new_v4().simple());

        let mut conn = admin_connection(&server.admin).await?;
        embedded::create_database(&mut conn, &name)
            .await
            .map_err(|source| TestDbError::Sql {
                action: "create the test database",
                source,
            })?;
        let _ = conn.close().await;

        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(server.admin.clone().database(&name))
            .await
            .map_err(|source| TestDbError::Sql {
                action: "connect to the test database",
                source,
            })?;
        migrator
            .run(&pool)
            .await
            .map_err(|source| TestDbError::Migrate {
                name: name.clone(),
                source,
            })?;

        Ok(TestDatabase {
            url: url_with_database(&server.admin_url, &name),
            pool,
            name,
            admin: server.admin.clone(),
        })
    }

    /// Closes the pool and drops the database (forcibly, even if something still connects).
    pub async fn cleanup(self) -> Result<(), TestDbError> {
        self.pool.close().await;
        let mut conn = admin_connection(&self.admin).await?;
        conn.execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
            .await
            .map_err(|source| TestDbError::Sql {
                action: "drop the test database",
                source,
            })?;
        let _ = conn.close().await;
        Ok(())
    }
}

impl std::fmt::Debug for TestDatabase {
    // Not derived: a DATABASE_URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

async fn admin_connection(admin: &PgConnectOptions) -> Result<PgConnection, TestDbError> {
    PgConnection::connect_with(admin)
        .await
        .map_err(|source| TestDbError::Sql {
            action: "connect to the test server",
            source,
        })
}

async fn test_server() -> Result<TestServer, TestDbError> {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let admin = PgConnectOptions::from_str(&url).map_err(TestDbError::InvalidDatabaseUrl)?;
        return Ok(TestServer {
            admin,
            admin_url: url,
        });
    }
    shared_cluster(&target_dir()?).await
}

/// Starts (or reuses) the shared cluster of the target dir `target`; works from a checkout the
/// unprivileged postgres user cannot reach too (the supervisor places the cluster elsewhere).
async fn shared_cluster(target: &Path) -> Result<TestServer, TestDbError> {
    let postgres = EmbeddedPostgres::start(EmbeddedOptions {
        data_dir: target.join(SHARED_CLUSTER_DIR),
        bin_dir: std::env::var_os("TESSERA_PG_BIN")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from),
    })
    .await?;
    let server = TestServer {
        admin: postgres.connect_options("postgres"),
        admin_url: postgres.admin_url(),
    };
    // Shared with later test processes; scripts/test.sh stops it.
    postgres.detach();
    Ok(server)
}

/// `CARGO_TARGET_DIR`, else `<dir holding Cargo.lock>/target` above the running crate (cargo sets
/// `CARGO_MANIFEST_DIR` for tests), the working directory, or this crate's own source.
fn target_dir() -> Result<PathBuf, TestDbError> {
    let cwd = std::env::current_dir().ok();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        return Ok(match &cwd {
            Some(cwd) if dir.is_relative() => cwd.join(dir),
            _ => dir,
        });
    }
    let starts: Vec<PathBuf> = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(cwd)
        .chain([PathBuf::from(env!("CARGO_MANIFEST_DIR"))])
        .collect();
    starts
        .iter()
        .find_map(|start| workspace_root(start))
        .map(|root| root.join("target"))
        .ok_or_else(|| TestDbError::TargetDirNotFound {
            searched: starts
                .iter()
                .map(|start| start.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn workspace_root(start: &Path) -> Option<&Path> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
}

/// `url` with its database (the path) replaced by `database`; user, host and query are kept.
fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    format!("{}/{database}{query}", &base[..authority_end])
}

#[cfg(test)]
mod tests;
