//! The revocation feed table: every revocation with a sequence number, read in order.

use sqlx::PgPool;
use tessera_core::token::TokenHash;
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

/// The newest sequence number (0 when nothing was ever revoked).
pub async fn latest_sequence(pool: &PgPool) -> Result<i64, StoreError> {
    let (latest,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(sequence), 0) FROM revocations")
        .fetch_one(pool)
        .await?;
    Ok(latest)
}
