//! Tessera's PostgreSQL store: one module per aggregate (`users`, `tokens`, `revocations`,
//! `audit`, `keys`), the migrations runner, the revocation feed that tells every replica about
//! every revocation (with the followers' leases and acknowledgements, `leases`), the connections a
//! hot path keeps between its statements (`kept`), and the embedded PostgreSQL supervisor used by
//! `tessera dev` and the tests.
//!
//! SQL lives here and nowhere else. This crate knows the domain types of `tessera-core` but must not
//! import tonic, prost or anything of the wire: the server crate translates between the two.

pub mod audit;
pub mod embedded;
mod error;
pub mod feed;
pub mod kept;
pub mod keys;
pub mod leases;
pub mod revocations;
pub mod testing;
pub mod tokens;
pub mod users;

use std::time::Duration;

pub use error::StoreError;
mod standby;
/// Re-exported so callers can name sqlx errors without depending on sqlx.
pub use sqlx::Error as SqlxError;
use sqlx::{migrate::Migrator, postgres::PgPoolOptions};
pub use sqlx::{PgConnection, PgPool};

/// A PostgreSQL transaction of the pool.
pub type PgTransaction = sqlx::Transaction<'static, sqlx::Postgres>;

/// Every migration in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// How the connection pool behaves; the server fills it from its configuration.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections held open at once.
    pub max_connections: u32,
    /// How long a caller waits for a connection before the store answers `Unavailable`: short, so
    /// an unreachable database fails requests fast and closed instead of queueing them. It also
    /// bounds recovery after a failover: a connection attempt started while no primary answered
    /// (a router such as haproxy holds it open) is given up after this long, and its place in
    /// the pool goes to an attempt that reaches the new primary.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(1),
        }
    }
}

/// Opens a pool lazily: the server starts even while PostgreSQL is down, reports NOT_SERVING and
/// recovers by itself when the database returns.
pub fn connect_lazy(url: &str, settings: &PoolSettings) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        // A ping on every checkout costs a round trip per call (a quarter of an uncached
        // Introspect); a connection in steady use is known good. Only one that sat idle, which
        // a restart or a proxy may have cut meanwhile, is checked before use. A connection that
        // fails anyway fails its call closed (UNAVAILABLE) and is dropped from the pool.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                // While a standby was seen lately (a failover), every connection proves it
                // reaches the primary before use; one that does not is dropped.
                if standby::lately() {
                    return Ok(standby::is_primary(conn).await);
                }
                if meta.idle_for < PING_AFTER_IDLE {
                    return Ok(true);
                }
                Ok(sqlx::Connection::ping(conn).await.is_ok())
            })
        })
        // Tessera writes on every path that matters (uses, sessions, revocations): a new
        // connection that reached a standby is refused (UNAVAILABLE) rather than kept.
        .after_connect(|conn, _| {
            Box::pin(async move {
                if standby::is_primary(conn).await {
                    Ok(())
                } else {
                    standby::seen();
                    Err(sqlx::Error::Io(std::io::Error::other(
                        "the database answered as a standby (in recovery); waiting for a primary",
                    )))
                }
            })
        })
        .connect_lazy(url)
        .map_err(StoreError::from)
}

/// Pooled connections idle at least this long are pinged before they are handed out.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether the database answers right now (used by health checks).
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
