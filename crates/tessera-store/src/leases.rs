//! Followers of the revocation feed and their leases: the table Revoke reads to know who must
//! acknowledge a revocation before it returns.
//!
//! A follower (a replica's decision cache, an edge) serves decisions from its cache only while it
//! holds a lease, and it renews the lease only by proving, in one transaction ordered against
//! every Revoke by the lease lock ([`LEASE_LOCK`]), that it has applied every revocation committed
//! so far
//! (`tessera_feed_renew`, in the migrations). Revoke then waits until every follower with a live
//! lease has acknowledged the new sequence or its lease has run out (Chubby's rule): once it
//! returns, no follower serves the revoked token from a cache.
//!
//! Leases are measured on PostgreSQL's clock here and on the follower's monotonic clock there,
//! from *before* its renewal was sent, so the follower's own lease always ends first.

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{revocations::FeedPosition, StoreError};

/// The `NOTIFY` channel followers' acknowledgements are announced on.
pub const ACK_CHANNEL: &str = "tessera_feed_acks";

/// Advisory lock a lease renewal holds shared (in `tessera_feed_renew`) and a Revoke takes
/// exclusively for a moment after its commit, before it first reads the followers: see the
/// migration `20261207000001_feed_leases.sql` for why that makes the wait exact.
pub const LEASE_LOCK: i64 = 0x7473_726c_6561_7365; // "tsrlease"

/// Who follows the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follower {
    /// Picked by the follower when it starts; a restarted follower is a new one.
    pub id: Uuid,
    /// `replica` or `edge`.
    pub kind: &'static str,
    /// For people: which process this is (e.g. `replica 127.0.0.1:50051 pid 4242`).
    pub name: String,
}

/// What a renewal came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The follower has applied everything up to the head: its lease runs `lease` from before the
    /// renewal was sent.
    Current {
        /// The newest sequence in the feed.
        head: i64,
    },
    /// Acknowledged, but newer revocations exist: read them, apply them, renew again. No lease.
    Behind {
        /// The newest sequence in the feed.
        head: i64,
    },
    /// The feed does not hold the follower's position any more (it moved backwards): drop
    /// everything derived from the feed and start again from the head.
    Moved,
    /// Revocations after the follower's position were pruned: the same.
    Pruned,
    /// Only acknowledged (see [`acknowledge`]); the lease is as it was.
    Acknowledged,
}

/// Acknowledges `position` for `follower` and renews its lease for `lease` when it is current.
pub async fn renew(
    pool: &PgPool,
    follower: &Follower,
    position: &FeedPosition,
    lease: Duration,
) -> Result<Renewal, StoreError> {
    call(pool, follower, position, lease, true).await
}

/// Only records that `follower` applied everything up to `position` (what a waiting Revoke looks
/// for), right after it did: no lease, and no lock taken. A
/// follower without a row yet (it never renewed) records nothing.
pub async fn acknowledge(
    pool: &PgPool,
    follower: &Follower,
    position: &FeedPosition,
) -> Result<(), StoreError> {
    call(pool, follower, position, Duration::ZERO, false)
        .await
        .map(|_| ())
}

async fn call(
    pool: &PgPool,
    follower: &Follower,
    position: &FeedPosition,
    lease: Duration,
    renew: bool,
) -> Result<Renewal, StoreError> {
    let lease_ms = i32::try_from(lease.as_millis()).unwrap_or(i32::MAX);
    let (status, head): (String, Option<i64>) = sqlx::query_as(
        "SELECT status, head FROM tessera_feed_renew($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(follower.id)
    .bind(follower.kind)
    .bind(&follower.name)
    .bind(position.sequence)
    .bind(position.anchor.map(|a| a.token_id))
    .bind(position.anchor.map(|a| a.revoked_at))
    .bind(lease_ms)
    .bind(renew)
    .fetch_one(pool)
    .await?;
    let head = head.unwrap_or_default();
    match status.as_str() {
        "current" => Ok(Renewal::Current { head }),
        "behind" => Ok(Renewal::Behind { head }),
        "moved" => Ok(Renewal::Moved),
        "pruned" => Ok(Renewal::Pruned),
        "acknowledged" => Ok(Renewal::Acknowledged),
        other => Err(StoreError::Corrupt(format!(
            "tessera_feed_renew answered an unknown status {other:?}"
        ))),
    }
}

/// A follower Revoke is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The follower.
    pub id: Uuid,
    /// Its name, for the answer and the logs.
    pub name: String,
    /// How long its lease still runs (PostgreSQL's clock).
    pub lease_left: Duration,
}

/// The followers holding a live lease that have not yet applied `sequence` (except `except`, the
/// caller itself), and how many live ones have. An acknowledgement counts only while the feed
/// still holds the acknowledged revocation where the follower saw it.
///
/// With `barrier` (a Revoke's first look), the lease lock is taken exclusively first, so every
/// renewal that began before it has committed and is read here.
pub async fn unacknowledged(
    pool: &PgPool,
    sequence: i64,
    except: Uuid,
    barrier: bool,
) -> Result<(Vec<Waiting>, u32), StoreError> {
    let mut tx = pool.begin().await?;
    if barrier {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LEASE_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let rows: Vec<(Uuid, String, bool, f64)> = sqlx::query_as(
        "SELECT f.follower_id, f.name, f.applied_sequence >= $1 AND EXISTS (
                    SELECT 1 FROM revocations r
                    WHERE r.sequence = f.applied_sequence AND r.token_id = f.applied_token
                      AND r.revoked_at = f.applied_at),
                EXTRACT(EPOCH FROM f.lease_until - clock_timestamp())::float8
         FROM feed_followers f
         WHERE f.lease_until > clock_timestamp() AND f.follower_id <> $2",
    )
    .bind(sequence)
    .bind(except)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut waiting = Vec::new();
    let mut acknowledged = 0;
    for (id, name, applied, left) in rows {
        if applied {
            acknowledged += 1;
        } else {
            waiting.push(Waiting {
                id,
                name,
                lease_left: Duration::from_secs_f64(left.max(0.0)),
            });
        }
    }
    Ok((waiting, acknowledged))
}

/// Which of `followers` have applied `sequence`.
pub async fn applied(
    pool: &PgPool,
    followers: &[Uuid],
    sequence: i64,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT f.follower_id FROM feed_followers f
         WHERE f.follower_id = ANY($1) AND f.applied_sequence >= $2 AND EXISTS (
             SELECT 1 FROM revocations r
             WHERE r.sequence = f.applied_sequence AND r.token_id = f.applied_token
               AND r.revoked_at = f.applied_at)",
    )
    .bind(followers)
    .bind(sequence)
    .fetch_all(pool)
    .await?)
}

/// A follower that stops (drains) gives its lease back, so no Revoke waits for it.
pub async fn release(pool: &PgPool, follower: Uuid) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM feed_followers WHERE follower_id = $1")
        .bind(follower)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes followers whose lease ended before `cutoff` (they stopped or were replaced); returns
/// how many.
pub async fn sweep(pool: &PgPool, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM feed_followers WHERE lease_until < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
