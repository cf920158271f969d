//! Failovers: a router (haproxy on Patroni's `/primary`, a DNS name, a managed endpoint) may for a
//! moment send connections to a node that is still, or again, a standby. Its answers are
//! "read-only transaction" (SQLSTATE 25006), which the store treats as UNAVAILABLE; and once one
//! is seen, pooled connections prove they reach a primary before use for a while, so connections
//! to the old node leave the pool instead of failing call after call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::PgConnection;

/// How long after a standby was seen connections are checked before use.
const WINDOW: Duration = Duration::from_secs(30);

/// When a standby was last seen, in milliseconds since the Unix epoch (0: never).
static LAST_SEEN: AtomicU64 = AtomicU64::new(0);

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Records that a connection reached a standby.
pub(crate) fn seen() {
    LAST_SEEN.store(now_millis(), Ordering::Relaxed);
}

/// Whether a standby was seen within the last [`WINDOW`].
pub(crate) fn lately() -> bool {
    let last = LAST_SEEN.load(Ordering::Relaxed);
    last != 0 && now_millis().saturating_sub(last) < u64::try_from(WINDOW.as_millis()).unwrap_or(0)
}

/// Whether `conn` reaches a primary (not in recovery). An error counts as no.
pub(crate) async fn is_primary(conn: &mut PgConnection) -> bool {
    match sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
        .fetch_one(conn)
        .await
    {
        Ok(in_recovery) => {
            if in_recovery {
                seen();
            }
            !in_recovery
        }
        Err(_) => false,
    }
}
