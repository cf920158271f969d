//! Many token reads in one statement: the coalesced form of [`super::lookup`], for a replica whose
//! concurrent cache misses wait on one another instead of each paying a round trip. As there,
//! only limited-use tokens asked to spend a use cost a second, use-counting statement.

use sqlx::PgConnection;
use tessera_rules::token::TokenHash;
use time::OffsetDateTime;

use super::TokenRecord;
use crate::StoreError;

/// One caller's read in a batch: the same three inputs as [`super::lookup`].
#[derive(Debug, Clone, Copy)]
pub struct LookupKey {
    /// The token's hash.
    pub hash: TokenHash,
    /// The caller's time: expiry is judged at it, exactly as a lone read would.
    pub now: OffsetDateTime,
    /// Whether a live limited-use token loses one use for this caller.
    pub consume: bool,
}

/// Most keys one statement carries; a caller with more makes several calls.
pub const MAX_BATCH: usize = 256;

#[derive(sqlx::FromRow)]
struct BatchRow {
    idx: i64,
    #[sqlx(flatten)]
    record: TokenRecord,
}

/// Reads every key's token; the answer has one entry per key, in order (`None`: no such token).
///
/// All keys are read in one plain `SELECT`. Keys that ask to consume and found a live limited-use
/// token then count their use in one more statement, with the same conditions as
/// [`super::lookup`] and under the same row lock, so concurrent statements (other batches, other
/// replicas, lone reads) still queue on the row and a single-use token is consumed exactly once.
/// One statement can decrement a row only once, so at most one consuming key per token hash is
/// allowed here: a second one is refused with [`StoreError::Corrupt`] before anything is sent
/// (the caller defers it to its next statement). Rows are locked in id order, as revocation locks
/// them, so a batch cannot deadlock with a revocation or with another batch.
///
/// `conn` is checked out by the caller (a kept one, see `crate::kept`, or the pool's).
pub async fn lookup_many(
    conn: &mut PgConnection,
    keys: &[LookupKey],
) -> Result<Vec<Option<TokenRecord>>, StoreError> {
    if keys.len() > MAX_BATCH {
        return Err(StoreError::Corrupt(format!(
            "a batched lookup carries at most {MAX_BATCH} keys"
        )));
    }
    let mut consuming = std::collections::HashSet::with_capacity(keys.len());
    if !keys
        .iter()
        .filter(|k| k.consume)
        .all(|k| consuming.insert(k.hash))
    {
        return Err(StoreError::Corrupt(
            "a batched lookup may consume each token at most once".into(),
        ));
    }
    let hashes: Vec<&[u8]> = keys.iter().map(|k| &k.hash.as_bytes()[..]).collect();
    let rows = sqlx::query_as::<_, BatchRow>(concat!(
        "SELECT req.idx, ",
        super::record_columns!(),
        " FROM unnest($1::bytea[]) WITH ORDINALITY AS req(hash, idx)
          JOIN tokens t ON t.hash = req.hash
          LEFT JOIN users u ON u.id = t.subject"
    ))
    .bind(hashes)
    .fetch_all(&mut *conn)
    .await?;
    let mut records = place(keys.len(), rows)?;
    let spending: Vec<usize> = keys
        .iter()
        .zip(&records)
        .enumerate()
        .filter(|(_, (key, record))| {
            key.consume && record.as_ref().is_some_and(|r| r.may_spend_use(key.now))
        })
        .map(|(idx, _)| idx)
        .collect();
    if !spending.is_empty() {
        let spent = consume_uses(conn, spending.iter().map(|&idx| keys[idx])).await?;
        for (idx, record) in spending.into_iter().zip(spent) {
            records[idx] = record;
        }
    }
    Ok(records)
}

/// Puts each row in its key's slot (`idx` counts from 1).
fn place(count: usize, rows: Vec<BatchRow>) -> Result<Vec<Option<TokenRecord>>, StoreError> {
    let mut records: Vec<Option<TokenRecord>> = vec![None; count];
    for row in rows {
        let slot = usize::try_from(row.idx)
            .ok()
            .and_then(|idx| idx.checked_sub(1))
            .and_then(|idx| records.get_mut(idx))
            .ok_or_else(|| StoreError::Corrupt("batched lookup answered an unknown key".into()))?;
        *slot = Some(row.record);
    }
    Ok(records)
}

/// Counts one use of each key's limited-use token and reads it back, in one statement; one entry
/// per key, in order. Distinct hashes only (checked by the caller).
async fn consume_uses(
    conn: &mut PgConnection,
    keys: impl Iterator<Item = LookupKey>,
) -> Result<Vec<Option<TokenRecord>>, StoreError> {
    let (hashes, nows): (Vec<[u8; 32]>, Vec<OffsetDateTime>) =
        keys.map(|k| (*k.hash.as_bytes(), k.now)).unzip();
    let hashes: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
    let count = hashes.len();
    let rows = sqlx::query_as::<_, BatchRow>(
        "WITH req AS (
             SELECT r.hash, r.now, r.idx
             FROM unnest($1::bytea[], $2::timestamptz[]) WITH ORDINALITY AS r(hash, now, idx)
         ),
         locked AS (
             SELECT tokens.id, req.now FROM tokens JOIN req ON req.hash = tokens.hash
             WHERE tokens.uses_remaining > 0
             ORDER BY tokens.id
             FOR UPDATE OF tokens
         ),
         consumed AS (
             UPDATE tokens SET uses_remaining = tokens.uses_remaining - 1
             FROM locked
             WHERE tokens.id = locked.id AND tokens.uses_remaining > 0
               AND tokens.revoked_at IS NULL
               AND (tokens.expires_at IS NULL OR tokens.expires_at > locked.now)
               AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = tokens.subject
                               AND (users.disabled OR users.generation <> tokens.generation))
             RETURNING tokens.id, tokens.uses_remaining
         )
         SELECT req.idx, t.id, t.kind, t.subject, t.parent_id, t.session_id, t.namespace,
                t.permissions, t.elevated, t.issued_at, t.expires_at, t.revoked_at,
                COALESCE(c.uses_remaining, t.uses_remaining) AS uses_remaining,
                (c.id IS NOT NULL) AS consumed,
                u.username, u.role, u.disabled AS user_disabled,
                COALESCE(u.generation <> t.generation, false) AS credentials_changed
         FROM req
         JOIN tokens t ON t.hash = req.hash
         LEFT JOIN consumed c ON c.id = t.id
         LEFT JOIN users u ON u.id = t.subject",
    )
    .bind(hashes)
    .bind(nows)
    .fetch_all(conn)
    .await?;
    place(count, rows)
}

#[cfg(test)]
mod tests;
