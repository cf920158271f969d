//! Revocation with cascade: the target, every token derived from it, the feed entries and the
//! notification, in the caller's transaction, with the tree locked so no child can slip in.

use sqlx::PgConnection;
use tessera_core::token::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// What to revoke: the matching tokens and, through `parent_id`, everything derived from them.
#[derive(Debug, Clone)]
pub enum RevokeTarget {
    /// The token with this hash.
    Hash(TokenHash),
    /// The token with this id.
    Id(Uuid),
    /// Every token of this session.
    Session(Uuid),
    /// Every token of this account.
    Subject(Uuid),
}

/// One token newly revoked, with its place in the revocation feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevokedToken {
    /// Feed sequence number.
    pub sequence: i64,
    /// Public id.
    pub token_id: Uuid,
    /// Hash bytes (32).
    pub token_hash: Vec<u8>,
}

/// Advisory lock that serialises writers of the revocation feed, so sequence numbers become visible
/// in commit order and a subscriber reading "everything after N" can never skip one.
const FEED_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

/// Revokes the target and every token derived from it, appends each to the revocation feed and
/// notifies listeners, all inside the caller's transaction (commit makes it visible at once).
/// Tokens already revoked are left as they were and not counted.
pub async fn revoke(
    conn: &mut PgConnection,
    target: &RevokeTarget,
    now: OffsetDateTime,
) -> Result<Vec<RevokedToken>, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FEED_LOCK)
        .execute(&mut *conn)
        .await?;
    let (hash, id, session, subject) = match target {
        RevokeTarget::Hash(h) => (Some(h.as_bytes().to_vec()), None, None, None),
        RevokeTarget::Id(id) => (None, Some(*id), None, None),
        RevokeTarget::Session(s) => (None, None, Some(*s), None),
        RevokeTarget::Subject(s) => (None, None, None, Some(*s)),
    };
    // Lock the whole tree before revoking it. A child insert locks its parent row, so once every
    // row of the tree is locked no new child can join it; children whose insert won the lock
    // first have committed by the time the lock is granted, so reading the tree again finds them
    // (each statement reads afresh under READ COMMITTED). Repeat until a read adds nothing.
    let mut tree: Vec<Uuid> = Vec::new();
    loop {
        let locked: Vec<Uuid> = sqlx::query_scalar(
            "WITH RECURSIVE tree(id) AS (
                 SELECT id FROM tokens
                 WHERE hash = $1 OR id = $2 OR session_id = $3 OR subject = $4
                 UNION
                 SELECT t.id FROM tokens t JOIN tree ON t.parent_id = tree.id
             )
             SELECT id FROM tokens WHERE id IN (SELECT id FROM tree) ORDER BY id FOR UPDATE",
        )
        .bind(&hash)
        .bind(id)
        .bind(session)
        .bind(subject)
        .fetch_all(&mut *conn)
        .await?;
        if locked == tree {
            break;
        }
        tree = locked;
    }
    let revoked = sqlx::query_as::<_, RevokedToken>(
        "WITH revoked AS (
             UPDATE tokens SET revoked_at = $2
             WHERE id = ANY($1) AND revoked_at IS NULL
             RETURNING id, hash
         ),
         feed AS (
             INSERT INTO revocations (token_id, token_hash, revoked_at)
             SELECT id, hash, $2 FROM revoked ORDER BY id
             RETURNING sequence, token_id, token_hash
         )
         SELECT sequence, token_id, token_hash FROM feed ORDER BY sequence",
    )
    .bind(&tree)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(last) = revoked.last() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(crate::feed::CHANNEL)
            .bind(last.sequence.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(revoked)
}
