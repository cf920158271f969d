//! Connections a hot path keeps between its statements instead of handing each back to the pool.
//!
//! sqlx checks every connection handed back to its pool with a round trip to PostgreSQL (a `Sync`
//! answered by `ReadyForQuery`), in a task of its own. For a path that runs one short statement
//! per checkout, such as the replica's cache misses, that doubles the round trips: PostgreSQL
//! wakes twice per statement and the replica pays a task, a write and a read more. A connection
//! kept here goes straight to the next statement instead.
//!
//! What the pool would check still holds:
//! * a connection that failed, or whose statement was cancelled, is not kept: it goes back to the
//!   pool, which checks it (and drops it if broken) as for any other caller;
//! * one kept unused for [`crate::PING_AFTER_IDLE`] or more (a restart or a proxy may have cut
//!   it meanwhile), or for [`KEEP_AT_MOST`] in all, goes back to the pool, and the next statement
//!   checks one out afresh, pinged by the pool when it sat idle;
//! * while a standby was seen lately (a failover), nothing is kept: every statement checks out
//!   a connection the pool has proven to reach the primary.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::{pool::PoolConnection, PgPool, Postgres};

use crate::{standby, StoreError, PING_AFTER_IDLE};

/// How long a connection may be kept before it goes back to the pool once, for the pool's own
/// upkeep (its lifetime limit, its count of idle connections).
pub const KEEP_AT_MOST: Duration = Duration::from_secs(30);

/// A few connections of `pool` kept between statements (see the module documentation).
pub struct KeptConnections {
    pool: PgPool,
    most: usize,
    idle: Mutex<Vec<Kept>>,
}

struct Kept {
    conn: PoolConnection<Postgres>,
    /// Checked out of the pool at.
    since: Instant,
    /// Last handed back here at.
    used: Instant,
}

/// A connection for one statement; hand it back with [`KeptConnections::put_back`] once the
/// statement succeeded. Dropped instead, it returns to the pool.
pub struct Checkout {
    conn: PoolConnection<Postgres>,
    since: Instant,
}

impl Checkout {
    /// The connection, to run statements on.
    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.conn
    }
}

impl KeptConnections {
    /// Keeps at most `most` connections of `pool` (the number of statements the caller runs at
    /// once).
    pub fn new(pool: PgPool, most: usize) -> KeptConnections {
        KeptConnections {
            pool,
            most,
            idle: Mutex::new(Vec::with_capacity(most)),
        }
    }

    /// A kept connection when one is fit for use, else one checked out of the pool (which fails
    /// with `Unavailable` after the pool's acquire timeout).
    pub async fn take(&self) -> Result<Checkout, StoreError> {
        let kept = self.lock().pop();
        if let Some(kept) = kept {
            if kept.used.elapsed() < PING_AFTER_IDLE
                && kept.since.elapsed() < KEEP_AT_MOST
                && !standby::lately()
            {
                return Ok(Checkout {
                    conn: kept.conn,
                    since: kept.since,
                });
            }
            // Dropped here: back to the pool, which checks it.
        }
        let conn = self.pool.acquire().await?;
        Ok(Checkout {
            conn,
            since: Instant::now(),
        })
    }

    /// Keeps a connection whose statement succeeded, for the next one.
    pub fn put_back(&self, checkout: Checkout) {
        if checkout.since.elapsed() >= KEEP_AT_MOST || standby::lately() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.most {
            idle.push(Kept {
                conn: checkout.conn,
                since: checkout.since,
                used: Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for KeptConnections {
    /// Kept connections leave with their owner, closed rather than handed back: the pool would
    /// check each in a task of its own, which fails with a warning while the runtime shuts down.
    fn drop(&mut self) {
        for kept in self
            .idle
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            drop(kept.conn.detach());
        }
    }
}
