//! The audit trail: one row per state change, written in the same transaction as the change.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// One audit event. `detail` holds structured context and never a secret.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// When it happened (the server's clock).
    pub at: OffsetDateTime,
    /// What happened: `login`, `unlock`, `issue`, `revoke`, `lockout`, `bootstrap`, …
    pub action: &'static str,
    /// `success` or `failure` (with the reason in `detail`).
    pub outcome: &'static str,
    /// The account that acted, when known.
    pub actor: Option<Uuid>,
    /// The username given, when there is one (also for unknown users).
    pub username: Option<String>,
    /// The token created or affected, when there is one.
    pub token_id: Option<Uuid>,
    /// Structured context.
    pub detail: serde_json::Value,
}

/// Appends an event.
pub async fn record(conn: &mut PgConnection, event: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (at, action, outcome, actor, username, token_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.at)
    .bind(event.action)
    .bind(event.outcome)
    .bind(event.actor)
    .bind(event.username.as_deref())
    .bind(event.token_id)
    .bind(sqlx::types::Json(&event.detail))
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored audit event, as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// Row id, increasing.
    pub id: i64,
    /// When it happened.
    pub at: OffsetDateTime,
    /// What happened.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Acting account.
    pub actor: Option<Uuid>,
    /// Username given.
    pub username: Option<String>,
    /// Token concerned.
    pub token_id: Option<Uuid>,
    /// Structured context.
    pub detail: sqlx::types::Json<serde_json::Value>,
}

/// The most recent events, newest first, optionally for one action.
pub async fn recent(
    conn: &mut PgConnection,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, action, outcome, actor, username, token_id, detail
         FROM audit_events WHERE ($1::text IS NULL OR action = $1)
         ORDER BY id DESC LIMIT $2",
    )
    .bind(action)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// Filters for [`list`]; `None` means no filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this acting account.
    pub actor: Option<Uuid>,
    /// Only this action.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// Only ids below this one (keyset paging, newest first).
    pub before_id: Option<i64>,
}

/// Events matching `filter`, newest first, at most `limit`.
pub async fn list(
    pool: &sqlx::PgPool,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, action, outcome, actor, username, token_id, detail
         FROM audit_events
         WHERE ($1::uuid IS NULL OR actor = $1)
           AND ($2::text IS NULL OR action = $2)
           AND ($3::timestamptz IS NULL OR at >= $3)
           AND ($4::timestamptz IS NULL OR at < $4)
           AND ($5::bigint IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6",
    )
    .bind(filter.actor)
    .bind(filter.action.as_deref())
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.before_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Deletes up to `batch` audit events older than `cutoff`, oldest first; returns how many.
/// Export what must be kept longer first (`tessera audit export`).
pub async fn prune(
    pool: &sqlx::PgPool,
    cutoff: OffsetDateTime,
    batch: i64,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM audit_events WHERE id IN (
             SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}
