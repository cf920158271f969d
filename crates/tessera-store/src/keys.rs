//! JWT signing keys: the private half only ever sealed (by the caller, with the key from
//! configuration), the public half in clear for verification and JWKS. Every change is announced
//! on [`CHANNEL`] so each replica reloads its key set at once.

use sqlx::{postgres::PgListener, PgConnection, PgPool};
use time::OffsetDateTime;

use crate::StoreError;

/// The `NOTIFY` channel key changes are announced on; the payload is the new key's id.
pub const CHANNEL: &str = "tessera_signing_keys";

/// Serialises key creation across replicas and `tessera keys rotate`, so two replicas starting on
/// an empty table do not both mint a first key.
const ADVISORY_LOCK: i64 = 0x7465_7373_6b65_7973; // "tesskeys"

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    /// Key id, the JWT header's `kid`.
    pub kid: String,
    /// The Ed25519 public key, 32 bytes.
    pub public_key: Vec<u8>,
    /// The Ed25519 seed, sealed with the configured key.
    pub private_sealed: Vec<u8>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When a newer key took over signing.
    pub retired_at: Option<OffsetDateTime>,
    /// When it stops verifying.
    pub not_after: Option<OffsetDateTime>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// The Ed25519 public key, 32 bytes.
    pub public_key: [u8; 32],
    /// The Ed25519 seed, already sealed.
    pub private_sealed: Vec<u8>,
    /// Creation time (from the application's clock).
    pub created_at: OffsetDateTime,
}

/// Every key, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<SigningKeyRow>, StoreError> {
    let rows = sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, public_key, private_sealed, created_at, retired_at, not_after
         FROM signing_keys ORDER BY created_at, kid",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Stores `key` as the signing key unless a current (unretired) key exists already. Returns
/// whether it was stored.
pub async fn insert_if_none_current(
    pool: &PgPool,
    key: &NewSigningKey,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let current: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)")
            .fetch_one(&mut *tx)
            .await?;
    if current {
        return Ok(false);
    }
    insert(&mut tx, key).await?;
    tx.commit().await?;
    Ok(true)
}

/// Stores `key` and retires every other current key. Run it in a transaction (with the audit
/// event): from its commit on, `key` signs new tokens while the retired keys keep verifying.
/// Returns how many keys it retired.
pub async fn rotate(conn: &mut PgConnection, key: &NewSigningKey) -> Result<u64, StoreError> {
    lock(conn).await?;
    let retired = sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(key.created_at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    insert(conn, key).await?;
    Ok(retired)
}

async fn lock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ADVISORY_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert(conn: &mut PgConnection, key: &NewSigningKey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, public_key, private_sealed, created_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&key.kid)
    .bind(&key.public_key[..])
    .bind(&key.private_sealed)
    .bind(key.created_at)
    .execute(&mut *conn)
    .await?;
    // Delivered when the transaction commits, to every replica listening.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(&key.kid)
        .execute(conn)
        .await?;
    Ok(())
}

/// A listening connection that wakes up whenever the key set changes.
pub struct KeyChanges(PgListener);

impl KeyChanges {
    /// Starts listening on [`CHANNEL`]. Reload the keys after this returns: changes committed
    /// before it are not announced again.
    pub async fn listen(pool: &PgPool) -> Result<KeyChanges, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(KeyChanges(listener))
    }

    /// Waits for the next change. An error means the connection was lost, so changes may have
    /// been missed: listen again, then reload. Cancel-safe, so it may run under a timeout.
    pub async fn changed(&mut self) -> Result<(), StoreError> {
        match self.0.try_recv().await? {
            Some(_notification) => Ok(()),
            None => Err(StoreError::Unavailable(sqlx::Error::Protocol(
                "listening connection closed".into(),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;

    fn key(kid: &str, at: OffsetDateTime) -> NewSigningKey {
        NewSigningKey {
            kid: kid.into(),
            public_key: [7; 32],
            private_sealed: vec![1, 2, 3],
            created_at: at,
        }
    }

    #[tokio::test]
    async fn first_key_is_created_once_and_rotation_retires_the_current_one() -> anyhow::Result<()>
    {
        let db = TestDatabase::new(&crate::MIGRATOR).await?;
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000)?;
        let mut changes = KeyChanges::listen(&db.pool).await?;

        assert!(insert_if_none_current(&db.pool, &key("a", t0)).await?);
        assert!(!insert_if_none_current(&db.pool, &key("b", t0)).await?);
        tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed()).await??;

        let t1 = t0 + time::Duration::hours(1);
        let mut tx = db.pool.begin().await?;
        assert_eq!(rotate(&mut tx, &key("c", t1)).await?, 1);
        tx.commit().await?;
        tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed()).await??;

        let rows = list(&db.pool).await?;
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.kid.as_str(), r.retired_at, r.public_key.len()))
            .collect();
        assert_eq!(summary, vec![("a", Some(t1), 32), ("c", None, 32)]);
        assert!(!insert_if_none_current(&db.pool, &key("d", t1)).await?);
        let mut tx = db.pool.begin().await?;
        assert!(matches!(
            rotate(&mut tx, &key("c", t1)).await,
            Err(StoreError::Conflict { .. })
        ));
        drop(tx);
        db.cleanup().await?;
        Ok(())
    }
}
