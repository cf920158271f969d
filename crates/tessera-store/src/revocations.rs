//! The revocation feed table: every revocation with a sequence number, read in order.

use sqlx::PgPool;
use tessera_rules::token::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Position in the feed, strictly increasing in commit order.
    pub sequence: i64,
    /// Public id of the revoked token.
    pub token_id: Uuid,
    /// Hash of the revoked token's secret.
    pub token_hash: TokenHash,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct RevocationRow {
    sequence: i64,
    token_id: Uuid,
    token_hash: Vec<u8>,
    revoked_at: OffsetDateTime,
}

/// Up to `limit` revocations after `after`, in order.
pub async fn since(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<Revocation>, StoreError> {
    let rows = sqlx::query_as::<_, RevocationRow>(
        "SELECT sequence, token_id, token_hash, revoked_at FROM revocations
         WHERE sequence > $1 ORDER BY sequence LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let token_hash = TokenHash::from_slice(&row.token_hash).ok_or_else(|| {
                StoreError::Corrupt(format!("revocation {} has a malformed hash", row.sequence))
            })?;
            Ok(Revocation {
                sequence: row.sequence,
                token_id: row.token_id,
                token_hash,
                revoked_at: row.revoked_at,
            })
        })
        .collect()
}

impl Revocation {
    /// The follower's position once it has applied this revocation.
    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            sequence: self.sequence,
            anchor: Some(Anchor {
                token_id: self.token_id,
                revoked_at: self.revoked_at,
            }),
        }
    }
}

/// What identifies the revocation at a position of the feed: its token and the moment it was
/// revoked. A feed that still holds this very revocation at that sequence has not moved backwards
/// under a follower standing there; one that holds another (or none) has been restored, recovered
/// to a point in time or failed over to a standby that lags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The revoked token's public id.
    pub token_id: Uuid,
    /// When it was revoked (microseconds, as PostgreSQL keeps it).
    pub revoked_at: OffsetDateTime,
}

impl Anchor {
    /// The anchor as followers carry it on the wire: `<token id>@<unix microseconds>`.
    pub fn to_text(&self) -> String {
        let micros = self.revoked_at.unix_timestamp_nanos() / 1000;
        format!("{}@{micros}", self.token_id)
    }

    /// Parses [`Anchor::to_text`]'s form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Anchor> {
        let (id, micros) = text.split_once('@')?;
        let token_id = Uuid::parse_str(id).ok()?;
        let micros: i128 = micros.parse().ok()?;
        let revoked_at =
            OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
        Some(Anchor {
            token_id,
            revoked_at,
        })
    }
}

/// Where a follower of the feed stands: the last revocation it applied (sequence 0 and no anchor
/// before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedPosition {
    /// Sequence of the last revocation applied.
    pub sequence: i64,
    /// That revocation's anchor; `None` only at sequence 0.
    pub anchor: Option<Anchor>,
}

/// What reading the feed after a position came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchored {
    /// Up to the limit of the revocations after the position, none missing.
    Rows(Vec<Revocation>),
    /// The feed no longer holds the position's revocation there: it moved backwards (restore,
    /// point-in-time recovery, failover to a lagging standby, hand edits). Everything the follower
    /// derived from the feed is unknown.
    Moved,
    /// Revocations after the position were pruned.
    Pruned {
        /// The oldest sequence still retained.
        oldest_sequence: i64,
    },
}

/// Up to `limit` revocations after `position`, after checking that the feed still holds the
/// position's own revocation where the follower saw it.
pub async fn after_position(
    pool: &PgPool,
    position: &FeedPosition,
    limit: i64,
) -> Result<Anchored, StoreError> {
    let Some(anchor) = position.anchor.filter(|_| position.sequence > 0) else {
        return match since_retained(pool, 0, limit).await? {
            Retained::Rows(rows) => Ok(Anchored::Rows(rows)),
            Retained::Pruned { oldest_sequence } => Ok(Anchored::Pruned { oldest_sequence }),
        };
    };
    // The position's own row first, then what follows it: one statement, one snapshot.
    let mut rows = since(pool, position.sequence - 1, limit + 1).await?;
    let holds_anchor = rows.first().is_some_and(|first| {
        first.sequence == position.sequence
            && first.token_id == anchor.token_id
            && first.revoked_at == anchor.revoked_at
    });
    if holds_anchor {
        rows.remove(0);
        return Ok(Anchored::Rows(rows));
    }
    match oldest_sequence(pool).await? {
        Some(oldest) if position.sequence < oldest => Ok(Anchored::Pruned {
            oldest_sequence: oldest,
        }),
        _ => Ok(Anchored::Moved),
    }
}

/// The newest revocation's position (sequence 0 when nothing was ever revoked).
pub async fn head(pool: &PgPool) -> Result<FeedPosition, StoreError> {
    let row = sqlx::query_as::<_, RevocationRow>(
        "SELECT sequence, token_id, token_hash, revoked_at FROM revocations
         ORDER BY sequence DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => FeedPosition {
            sequence: row.sequence,
            anchor: Some(Anchor {
                token_id: row.token_id,
                revoked_at: row.revoked_at,
            }),
        },
        None => FeedPosition::default(),
    })
}

/// The newest sequence number (0 when nothing was ever revoked).
pub async fn latest_sequence(pool: &PgPool) -> Result<i64, StoreError> {
    let (latest,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(sequence), 0) FROM revocations")
        .fetch_one(pool)
        .await?;
    Ok(latest)
}

/// The oldest sequence still in the feed table (`None` when nothing was ever revoked).
///
/// Pruning only ever deletes a prefix of the feed and always keeps the newest entry, so every
/// revocation after `oldest - 1` is still in the table, and once anything was revoked the table
/// is never empty: "where pruning stopped" needs no table of its own.
pub async fn oldest_sequence(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT MIN(sequence) FROM revocations")
        .fetch_one(pool)
        .await?)
}

/// What reading the feed after a sequence came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retained {
    /// Every revocation after the sequence asked for (up to the limit), with none missing.
    Rows(Vec<Revocation>),
    /// Revocations after the sequence asked for were pruned: the reader must drop whatever it
    /// derived from the feed and start again from 0.
    Pruned {
        /// The oldest sequence still retained.
        oldest_sequence: i64,
    },
}

/// Up to `limit` revocations after `after`, unless some of them were pruned.
///
/// `after == 0` means "every retained revocation" and is never refused. Otherwise the oldest
/// retained sequence is read *after* the rows: pruning deletes a prefix, so if nothing after
/// `after` is missing now, nothing was missing when the rows were read either.
pub async fn since_retained(pool: &PgPool, after: i64, limit: i64) -> Result<Retained, StoreError> {
    let rows = since(pool, after, limit).await?;
    if after <= 0 {
        return Ok(Retained::Rows(rows));
    }
    match oldest_sequence(pool).await? {
        Some(oldest) if after < oldest - 1 => Ok(Retained::Pruned {
            oldest_sequence: oldest,
        }),
        _ => Ok(Retained::Rows(rows)),
    }
}

/// Deletes up to `batch` revocations recorded before `cutoff`, oldest first, keeping the feed a
/// gap-free suffix: it stops at the first entry recorded at or after `cutoff` (clocks of
/// different replicas may disagree a little; an older entry behind a newer one waits for the next
/// round) and never deletes the newest entry. Returns how many were deleted.
pub async fn prune(pool: &PgPool, cutoff: OffsetDateTime, batch: i64) -> Result<u64, StoreError> {
    // The first entry to keep: the first one recent enough, or else the newest of all. Both are
    // found by walking the primary key from its start, through exactly the rows to delete.
    let deleted = sqlx::query(
        "WITH keep AS (
             SELECT LEAST(
                 (SELECT sequence FROM revocations WHERE revoked_at >= $1
                  ORDER BY sequence LIMIT 1),
                 (SELECT MAX(sequence) FROM revocations)) AS first
         )
         DELETE FROM revocations WHERE sequence IN (
             SELECT sequence FROM revocations, keep
             WHERE sequence < keep.first
             ORDER BY sequence LIMIT $2)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}
