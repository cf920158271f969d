//! Tokens, stored only as SHA-256 hashes: issuing, introspection (a plain indexed read, and a
//! use-counting write only for limited-use tokens), revocation with cascade to every derived
//! token, and the expiry sweep.

use sqlx::{PgConnection, PgPool};
use tessera_rules::token::{TokenHash, TokenKind};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

mod batch;
mod revoke;

pub use batch::{lookup_many, LookupKey, MAX_BATCH};
pub use revoke::{revoke, RevokeTarget, RevokedToken};

/// A token to store. The secret itself never reaches this crate: only its hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Public id.
    pub id: Uuid,
    /// SHA-256 of the secret: the lookup key.
    pub hash: TokenHash,
    /// Kind.
    pub kind: TokenKind,
    /// Account the token acts for.
    pub subject: Option<Uuid>,
    /// Token it was derived from.
    pub parent_id: Option<Uuid>,
    /// Session it belongs to (a session token's own id for a session).
    pub session_id: Option<Uuid>,
    /// Namespace prefix, or `*`.
    pub namespace: String,
    /// Permissions, `*` meaning all.
    pub permissions: Vec<String>,
    /// Whether it is elevated.
    pub elevated: bool,
    /// Free text.
    pub description: String,
    /// Issue time.
    pub issued_at: OffsetDateTime,
    /// Expiry, when it has one.
    pub expires_at: Option<OffsetDateTime>,
    /// Use limit, when it has one.
    pub max_uses: Option<u32>,
}

/// Stores a token that derives from no other (a session, a static or a master token), stamped with
/// its account's current credential generation. A session's caller must hold its account row
/// locked (see [`crate::users::record_success`]) so that generation cannot move before commit.
pub async fn insert(conn: &mut PgConnection, token: &NewToken) -> Result<(), StoreError> {
    let max_uses = token.max_uses.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    sqlx::query(
        "INSERT INTO tokens (id, hash, kind, subject, parent_id, session_id, namespace, permissions,
                             elevated, description, issued_at, expires_at, uses_remaining, max_uses,
                             generation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13,
                 COALESCE((SELECT generation FROM users WHERE id = $4), 0))",
    )
    .bind(token.id)
    .bind(&token.hash.as_bytes()[..])
    .bind(token.kind.as_str())
    .bind(token.subject)
    .bind(token.parent_id)
    .bind(token.session_id)
    .bind(&token.namespace)
    .bind(&token.permissions)
    .bind(token.elevated)
    .bind(&token.description)
    .bind(token.issued_at)
    .bind(token.expires_at)
    .bind(max_uses)
    .execute(conn)
    .await?;
    Ok(())
}

/// How a child insert went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildInsert {
    /// Stored; the parent gave up the child's uses.
    Inserted,
    /// The parent is revoked, expired, used up, or its account is disabled or its credentials
    /// changed: it can have no child.
    ParentInactive,
    /// The parent is active but has fewer uses left than the child asks for.
    NotEnoughUses,
}

/// Stores a token derived from `token.parent_id`, in the caller's transaction, under the
/// invariant "no token is active whose ancestor is revoked".
///
/// The parent row is locked (`UPDATE`) and re-checked in the same statement that takes the
/// child's uses out of it: a concurrent [`revoke`] either locked the parent first (then this waits,
/// sees `revoked_at` and refuses) or waits for this transaction and then finds the child in its
/// tree. The child inherits the parent's credential generation. A limited-use parent must
/// have `max_uses` left; they move to the child, so a tree never holds more uses than its root.
pub async fn insert_child(
    conn: &mut PgConnection,
    token: &NewToken,
    now: OffsetDateTime,
) -> Result<ChildInsert, StoreError> {
    let parent = token
        .parent_id
        .ok_or_else(|| StoreError::Corrupt("a child token needs a parent".into()))?;
    let max_uses = token.max_uses.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let generation: Option<i64> = sqlx::query_scalar(
        "UPDATE tokens SET uses_remaining = uses_remaining - COALESCE($2, 0)
         WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)
           AND (uses_remaining IS NULL OR ($2 IS NOT NULL AND uses_remaining >= $2 AND $2 > 0))
           AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = tokens.subject
                           AND (u.disabled OR u.generation <> tokens.generation))
         RETURNING generation",
    )
    .bind(parent)
    .bind(max_uses)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(generation) = generation else {
        let live: Option<bool> = sqlx::query_scalar(
            "SELECT revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
                    AND (uses_remaining IS NULL OR uses_remaining > 0)
             FROM tokens WHERE id = $1",
        )
        .bind(parent)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(match (live, max_uses) {
            (Some(true), Some(_)) => ChildInsert::NotEnoughUses,
            _ => ChildInsert::ParentInactive,
        });
    };
    sqlx::query(
        "INSERT INTO tokens (id, hash, kind, subject, parent_id, session_id, namespace, permissions,
                             elevated, description, issued_at, expires_at, uses_remaining, max_uses,
                             generation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)",
    )
    .bind(token.id)
    .bind(&token.hash.as_bytes()[..])
    .bind(token.kind.as_str())
    .bind(token.subject)
    .bind(parent)
    .bind(token.session_id)
    .bind(&token.namespace)
    .bind(&token.permissions)
    .bind(token.elevated)
    .bind(&token.description)
    .bind(token.issued_at)
    .bind(token.expires_at)
    .bind(max_uses)
    .bind(generation)
    .execute(&mut *conn)
    .await?;
    Ok(ChildInsert::Inserted)
}

/// Everything a decision about a token needs, read in one statement with its account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    /// Public id.
    pub id: Uuid,
    /// Kind name; parse with [`TokenRecord::kind`].
    pub kind: String,
    /// Account.
    pub subject: Option<Uuid>,
    /// Parent token.
    pub parent_id: Option<Uuid>,
    /// Session.
    pub session_id: Option<Uuid>,
    /// Namespace prefix or `*`.
    pub namespace: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Elevated.
    pub elevated: bool,
    /// Issue time.
    pub issued_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Revocation time, when revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// Uses left (after this call's use, when one was consumed).
    pub uses_remaining: Option<i32>,
    /// Whether this call consumed a use.
    pub consumed: bool,
    /// The account's login name.
    pub username: Option<String>,
    /// The account's role name.
    pub role: Option<String>,
    /// Whether the account is disabled.
    pub user_disabled: Option<bool>,
    /// Whether the account's credentials (password, role, enabled state) changed after the token
    /// was issued: its generation stamp is behind the account's.
    pub credentials_changed: bool,
}

impl TokenRecord {
    /// Whether a consuming read of this row, as read, would spend a use: a limited-use token
    /// with uses left that is live at `now`. Only then is the use-consuming statement sent; it
    /// checks every condition again under the row lock, so this is a filter, not the decision.
    pub(crate) fn may_spend_use(&self, now: OffsetDateTime) -> bool {
        self.uses_remaining.is_some_and(|left| left > 0)
            && self.revoked_at.is_none()
            && self.expires_at.is_none_or(|at| at > now)
            && self.user_disabled != Some(true)
            && !self.credentials_changed
    }

    /// The token's kind.
    pub fn kind(&self) -> Result<TokenKind, StoreError> {
        self.kind
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("token {} has unknown kind", self.id)))
    }
}

/// The columns every token read answers with (the token, its account, nothing consumed), for
/// [`TokenRecord`]; `t` is the token row and `u` its account.
macro_rules! record_columns {
    () => {
        "t.id, t.kind, t.subject, t.parent_id, t.session_id, t.namespace, t.permissions,
         t.elevated, t.issued_at, t.expires_at, t.revoked_at, t.uses_remaining,
         false AS consumed, u.username, u.role, u.disabled AS user_disabled,
         COALESCE(u.generation <> t.generation, false) AS credentials_changed"
    };
}
pub(crate) use record_columns;

/// Reads a token by hash. A token without a use limit (nearly all of them), and any token read
/// without `consume`, costs one plain indexed `SELECT`: no row lock, no write. Only when `consume`
/// is asked and the row read is a live limited-use token does a second statement count the use
/// ([`consume_use`]), under the row lock, so concurrent callers queue and a single-use token is
/// consumed exactly once however many present it at the same moment.
///
/// `conn` is checked out by the caller (a kept one, see `crate::kept`, or the pool's).
pub async fn lookup(
    conn: &mut PgConnection,
    hash: &TokenHash,
    now: OffsetDateTime,
    consume: bool,
) -> Result<Option<TokenRecord>, StoreError> {
    let record = sqlx::query_as::<_, TokenRecord>(concat!(
        "SELECT ",
        record_columns!(),
        " FROM tokens t LEFT JOIN users u ON u.id = t.subject WHERE t.hash = $1"
    ))
    .bind(&hash.as_bytes()[..])
    .fetch_optional(&mut *conn)
    .await?;
    match record {
        Some(record) if consume && record.may_spend_use(now) => consume_use(conn, hash, now).await,
        other => Ok(other),
    }
}

/// Counts one use of a limited-use token and reads it back in one statement: the row is locked
/// and decremented only if the token is live (unrevoked, unexpired at `now`, uses left, its
/// account enabled and its credentials unchanged); either way the answer is the row as it stands
/// afterwards, with `consumed` saying whether this call spent the use.
async fn consume_use(
    conn: &mut PgConnection,
    hash: &TokenHash,
    now: OffsetDateTime,
) -> Result<Option<TokenRecord>, StoreError> {
    let record = sqlx::query_as::<_, TokenRecord>(
        "WITH consumed AS (
             UPDATE tokens SET uses_remaining = uses_remaining - 1
             WHERE hash = $1 AND uses_remaining > 0 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $2)
               AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = tokens.subject
                               AND (users.disabled OR users.generation <> tokens.generation))
             RETURNING id, uses_remaining
         )
         SELECT t.id, t.kind, t.subject, t.parent_id, t.session_id, t.namespace, t.permissions,
                t.elevated, t.issued_at, t.expires_at, t.revoked_at,
                COALESCE(c.uses_remaining, t.uses_remaining) AS uses_remaining,
                (c.id IS NOT NULL) AS consumed,
                u.username, u.role, u.disabled AS user_disabled,
                COALESCE(u.generation <> t.generation, false) AS credentials_changed
         FROM tokens t
         LEFT JOIN consumed c ON c.id = t.id
         LEFT JOIN users u ON u.id = t.subject
         WHERE t.hash = $1",
    )
    .bind(&hash.as_bytes()[..])
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(record)
}

/// Public facts about a token, found by id (no secret, no hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenSummary {
    /// Public id.
    pub id: Uuid,
    /// Kind name.
    pub kind: String,
    /// Account.
    pub subject: Option<Uuid>,
    /// Session.
    pub session_id: Option<Uuid>,
}

/// Finds a token's owner and session by public id.
pub async fn summary(pool: &PgPool, id: Uuid) -> Result<Option<TokenSummary>, StoreError> {
    Ok(sqlx::query_as::<_, TokenSummary>(
        "SELECT id, kind, subject, session_id FROM tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// The owners (subjects) of the tokens among `ids` that exist, by id.
pub async fn owners(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<(Uuid, Option<Uuid>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, subject FROM tokens WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?,
    )
}

/// Deletes up to `batch` tokens that expired before `now`; returns how many. Their revocation-feed
/// entries stay.
pub async fn sweep_expired(
    pool: &PgPool,
    now: OffsetDateTime,
    batch: i64,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM tokens WHERE id IN (
             SELECT id FROM tokens WHERE expires_at <= $1
             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .bind(batch)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// A token as listed by administrators: everything but the hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    /// Public id.
    pub id: Uuid,
    /// Kind name.
    pub kind: String,
    /// Account.
    pub subject: Option<Uuid>,
    /// Parent token.
    pub parent_id: Option<Uuid>,
    /// Session.
    pub session_id: Option<Uuid>,
    /// Namespace.
    pub namespace: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Elevated.
    pub elevated: bool,
    /// Free text.
    pub description: String,
    /// Issue time.
    pub issued_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Uses left.
    pub uses_remaining: Option<i32>,
    /// Use limit at issue.
    pub max_uses: Option<i32>,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
}

const INFO_COLUMNS: &str = "id, kind, subject, parent_id, session_id, namespace, permissions, elevated, \
                            description, issued_at, expires_at, uses_remaining, max_uses, revoked_at";

/// An account's tokens, newest first; with `include_inactive` also revoked, expired and used-up ones.
pub async fn list_for_subject(
    pool: &PgPool,
    subject: Uuid,
    include_inactive: bool,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<TokenInfo>, StoreError> {
    let sql = format!(
        "SELECT {INFO_COLUMNS} FROM tokens WHERE subject = $1
           AND ($2 OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)
                       AND (uses_remaining IS NULL OR uses_remaining > 0)))
         ORDER BY issued_at DESC, id LIMIT $4"
    );
    Ok(sqlx::query_as::<_, TokenInfo>(&sql)
        .bind(subject)
        .bind(include_inactive)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// One token by id.
pub async fn info(pool: &PgPool, id: Uuid) -> Result<Option<TokenInfo>, StoreError> {
    let sql = format!("SELECT {INFO_COLUMNS} FROM tokens WHERE id = $1");
    Ok(sqlx::query_as::<_, TokenInfo>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// The master token in force (not revoked), if any.
pub async fn active_master(conn: &mut PgConnection) -> Result<Option<TokenInfo>, StoreError> {
    let sql = format!(
        "SELECT {INFO_COLUMNS} FROM tokens WHERE kind = 'master' AND revoked_at IS NULL
         ORDER BY issued_at DESC LIMIT 1"
    );
    Ok(sqlx::query_as::<_, TokenInfo>(&sql)
        .fetch_optional(conn)
        .await?)
}

/// Revokes every master token in force (through the feed, so every replica drops it at once).
pub async fn revoke_masters(
    conn: &mut PgConnection,
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM tokens WHERE kind = 'master' AND revoked_at IS NULL")
            .fetch_all(&mut *conn)
            .await?;
    let mut count = 0;
    for id in ids {
        count += revoke(conn, &RevokeTarget::Id(id), now).await?.len();
    }
    Ok(count)
}

/// A static token row in force, as compared against the tokens file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaticRow {
    /// Public id.
    pub id: Uuid,
    /// Hash bytes.
    pub hash: Vec<u8>,
    /// Namespace.
    pub namespace: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// The token's name in the file.
    pub description: String,
}

/// Static tokens in force (not revoked).
pub async fn static_rows(conn: &mut PgConnection) -> Result<Vec<StaticRow>, StoreError> {
    Ok(sqlx::query_as::<_, StaticRow>(
        "SELECT id, hash, namespace, permissions, expires_at, description FROM tokens
         WHERE kind = 'static' AND revoked_at IS NULL",
    )
    .fetch_all(conn)
    .await?)
}

/// Revokes (through the feed) and deletes static tokens, so their secrets can be defined anew.
/// Returns the revoked hashes.
pub async fn retire_static(
    conn: &mut PgConnection,
    ids: &[Uuid],
    now: OffsetDateTime,
) -> Result<Vec<RevokedToken>, StoreError> {
    let mut revoked = Vec::new();
    for id in ids {
        revoked.extend(revoke(conn, &RevokeTarget::Id(*id), now).await?);
    }
    sqlx::query("DELETE FROM tokens WHERE kind = 'static' AND id = ANY($1)")
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    Ok(revoked)
}
