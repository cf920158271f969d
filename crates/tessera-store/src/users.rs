//! Accounts: creation, lookup, the login-attempt counter behind lockout, and TOTP state.

use sqlx::{PgConnection, PgPool};
use tessera_rules::role::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// An account as stored. `password_hash` is an argon2id PHC string; `totp_sealed` is the TOTP seed
/// sealed with the configured key.
#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Account id, the `subject` of its tokens.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Human-readable name.
    pub display_name: String,
    /// Role name; parse with [`UserRow::role`].
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Sealed TOTP seed, when enrolled.
    pub totp_sealed: Option<Vec<u8>>,
    /// Highest TOTP step accepted so far.
    pub totp_last_step: Option<i64>,
    /// Attempts reserved since the last success.
    pub failed_logins: i32,
    /// Locked until this instant, when locked.
    pub locked_until: Option<OffsetDateTime>,
    /// Disabled accounts cannot log in and their tokens are inactive.
    pub disabled: bool,
    /// Credential generation: bumped by a password reset, a disable, a role change or a TOTP
    /// enrolment or removal. Tokens stamped with an older one are inactive.
    pub generation: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("totp_enabled", &self.totp_sealed.is_some())
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl UserRow {
    /// The account's role.
    pub fn role(&self) -> Result<Role, StoreError> {
        self.role
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("user {} has unknown role", self.id)))
    }
}

/// A new account.
#[derive(Clone)]
pub struct NewUser {
    /// Account id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Human-readable name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string of the password.
    pub password_hash: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

const USER_COLUMNS: &str = "id, username, display_name, role, password_hash, totp_sealed, \
                            totp_last_step, failed_logins, locked_until, disabled, generation";

/// Inserts an account; a taken username is [`StoreError::Conflict`].
pub async fn insert(conn: &mut PgConnection, user: &NewUser) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, username, display_name, role, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id)
    .bind(&user.username)
    .bind(&user.display_name)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .bind(user.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts an account unless the username exists; returns whether it was inserted. Bootstrap uses
/// it so that start-up is idempotent and never overwrites a password changed since.
pub async fn insert_if_absent(conn: &mut PgConnection, user: &NewUser) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, username, display_name, role, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING",
    )
    .bind(user.id)
    .bind(&user.username)
    .bind(&user.display_name)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .bind(user.created_at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Looks an account up by login name.
pub async fn find_by_username(
    pool: &PgPool,
    username: &str,
) -> Result<Option<UserRow>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    Ok(sqlx::query_as::<_, UserRow>(&sql)
        .bind(username)
        .fetch_optional(pool)
        .await?)
}

/// Looks an account up by id.
pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query_as::<_, UserRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// The outcome of asking for a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptReservation {
    /// The attempt may proceed; it already counts as a failure until
    /// [`record_success`] or [`release_attempt`] says otherwise.
    Reserved,
    /// The account is locked.
    Locked,
    /// Not locked, but the attempts in flight already fill what is left below the limit: the
    /// attempt must wait for one of them to end (a success frees every slot, a failure may lock)
    /// rather than be refused, since its password may well be right.
    Busy,
}

/// Reserves one login attempt before the password is checked, atomically: parallel attempts can
/// never exceed `max_attempts`, because the slot is taken before the (slow) hash is verified. An
/// expired lock starts the count over.
pub async fn reserve_attempt(
    pool: &PgPool,
    id: Uuid,
    now: OffsetDateTime,
    max_attempts: i32,
) -> Result<AttemptReservation, StoreError> {
    // One statement: the reservation, and when none was taken, whether a lock is what stopped it.
    let (reserved, locked): (bool, bool) = sqlx::query_as(
        "WITH taken AS (
             UPDATE users SET
                 failed_logins = CASE WHEN locked_until <= $2 THEN 1 ELSE failed_logins + 1 END,
                 locked_until  = CASE WHEN locked_until <= $2 THEN NULL ELSE locked_until END
             WHERE id = $1
               AND (locked_until <= $2 OR (locked_until IS NULL AND failed_logins < $3))
             RETURNING id)
         SELECT EXISTS (SELECT 1 FROM taken),
                EXISTS (SELECT 1 FROM users WHERE id = $1 AND locked_until > $2)",
    )
    .bind(id)
    .bind(now)
    .bind(max_attempts)
    .fetch_one(pool)
    .await?;
    Ok(match (reserved, locked) {
        (true, _) => AttemptReservation::Reserved,
        (false, true) => AttemptReservation::Locked,
        (false, false) => AttemptReservation::Busy,
    })
}

/// How many decoy rows there are (`login_decoys`).
pub const DECOY_SLOTS: u64 = 64;

/// The decoy row an attempt on an unknown or disabled account `username` works on: the same
/// statement shape as [`reserve_attempt`], and a committed write like it, so such an attempt
/// costs what a wrong password costs. Never refuses.
pub async fn reserve_decoy_attempt(
    pool: &PgPool,
    slot: i16,
    now: OffsetDateTime,
    max_attempts: i32,
) -> Result<(), StoreError> {
    let _: (bool, bool) = sqlx::query_as(
        "WITH taken AS (
             UPDATE login_decoys SET
                 failed_logins = CASE WHEN failed_logins >= 1000000 THEN 1 ELSE failed_logins + 1 END,
                 locked_until  = CASE WHEN locked_until <= $2 THEN NULL ELSE locked_until END
             WHERE slot = $1
               AND (locked_until <= $2 OR locked_until IS NULL OR failed_logins < $3)
             RETURNING slot)
         SELECT EXISTS (SELECT 1 FROM taken),
                EXISTS (SELECT 1 FROM login_decoys WHERE slot = $1 AND locked_until > $2)",
    )
    .bind(slot)
    .bind(now)
    .bind(max_attempts)
    .fetch_one(pool)
    .await?;
    Ok(())
}

/// The decoy's side of [`record_failure`]: the same statement, which never locks a decoy.
pub async fn record_decoy_failure(
    conn: &mut PgConnection,
    slot: i16,
    lock_until: OffsetDateTime,
) -> Result<(), StoreError> {
    let _: Option<(Option<OffsetDateTime>,)> = sqlx::query_as(
        "UPDATE login_decoys SET locked_until = $2
         WHERE slot = $1 AND failed_logins < 0 AND locked_until IS NULL
         RETURNING locked_until",
    )
    .bind(slot)
    .bind(lock_until)
    .fetch_optional(conn)
    .await?;
    Ok(())
}

/// A successful login: the count starts over. Succeeds only while the account is enabled and
/// still at `generation` (the one read before the password was checked); returns false when a
/// reset, disable or role change got in between, and the login must then fail. The row stays
/// locked until the caller's transaction ends, so such a change waits for the new session to
/// commit and then revokes it with the rest.
pub async fn record_success(
    conn: &mut PgConnection,
    id: Uuid,
    generation: i64,
) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE users SET failed_logins = 0, locked_until = NULL
         WHERE id = $1 AND generation = $2 AND NOT disabled",
    )
    .bind(id)
    .bind(generation)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Gives a reserved attempt back without counting it (the password was right, but a TOTP code is
/// still needed).
pub async fn release_attempt(conn: &mut PgConnection, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET failed_logins = GREATEST(failed_logins - 1, 0) WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A failed attempt (already counted by [`reserve_attempt`]): locks the account until
/// `lock_until` once the count has reached `max_attempts`. Returns the lock, when one was set now.
pub async fn record_failure(
    conn: &mut PgConnection,
    id: Uuid,
    max_attempts: i32,
    lock_until: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let locked: Option<(Option<OffsetDateTime>,)> = sqlx::query_as(
        "UPDATE users SET locked_until = $3
         WHERE id = $1 AND failed_logins >= $2 AND locked_until IS NULL
         RETURNING locked_until",
    )
    .bind(id)
    .bind(max_attempts)
    .bind(lock_until)
    .fetch_optional(conn)
    .await?;
    Ok(locked.and_then(|(at,)| at))
}

/// Accepts TOTP time step `step` if it is newer than every step accepted before: a code works once.
pub async fn accept_totp_step(
    conn: &mut PgConnection,
    id: Uuid,
    step: i64,
) -> Result<bool, StoreError> {
    let accepted = sqlx::query(
        "UPDATE users SET totp_last_step = $2
         WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(accepted == 1)
}

/// Enrolls (Some) or removes (None) the sealed TOTP seed and bumps the credential generation:
/// like a password reset, every token issued before is inactive from the commit on (the caller
/// revokes them in the same transaction so every cache drops them).
pub async fn set_totp(
    conn: &mut PgConnection,
    id: Uuid,
    sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET totp_sealed = $2, totp_last_step = NULL, generation = generation + 1
         WHERE id = $1",
    )
    .bind(id)
    .bind(sealed)
    .execute(conn)
    .await?;
    Ok(())
}

/// An account as listed by administrators: no password hash, no seed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserSummary {
    /// Account id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Human-readable name.
    pub display_name: String,
    /// Role name.
    pub role: String,
    /// Whether TOTP is enrolled.
    pub totp_enabled: bool,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Locked until, when locked.
    pub locked_until: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

const SUMMARY_COLUMNS: &str =
    "id, username, display_name, role, totp_sealed IS NOT NULL AS totp_enabled, \
                               disabled, locked_until, created_at";

/// Accounts by username, after `after` (keyset paging), at most `limit`.
pub async fn list(
    pool: &PgPool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UserSummary>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM users WHERE ($1::text IS NULL OR username > $1) ORDER BY username LIMIT $2"
    );
    Ok(sqlx::query_as::<_, UserSummary>(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// One account's summary by name.
pub async fn summary(
    conn: &mut PgConnection,
    username: &str,
) -> Result<Option<UserSummary>, StoreError> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM users WHERE username = $1");
    Ok(sqlx::query_as::<_, UserSummary>(&sql)
        .bind(username)
        .fetch_optional(conn)
        .await?)
}

/// Disables or enables an account. Disabling bumps the credential generation, which makes every
/// token of the account inactive at once; the caller then revokes them in the same transaction so
/// every cache drops them. Enabling leaves the generation alone (nothing live to keep or kill).
pub async fn set_disabled(
    conn: &mut PgConnection,
    id: Uuid,
    disabled: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET disabled = $2,
                          generation = generation + CASE WHEN $2 THEN 1 ELSE 0 END
         WHERE id = $1",
    )
    .bind(id)
    .bind(disabled)
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes an account's role; returns whether it changed. A change bumps the credential
/// generation (the caller must then revoke the account's tokens in the same transaction). The
/// row is locked before it is compared, so two concurrent changes cannot both see the old role.
pub async fn set_role(conn: &mut PgConnection, id: Uuid, role: Role) -> Result<bool, StoreError> {
    let current: Option<String> =
        sqlx::query_scalar("SELECT role FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if current.as_deref() == Some(role.as_str()) || current.is_none() {
        return Ok(false);
    }
    sqlx::query("UPDATE users SET role = $2, generation = generation + 1 WHERE id = $1")
        .bind(id)
        .bind(role.as_str())
        .execute(conn)
        .await?;
    Ok(true)
}

/// Replaces an account's password hash, clears its failed-attempt count and lock, and bumps the
/// credential generation: every token issued before is inactive from the commit on, including a
/// session whose login was checking the old password at that very moment.
pub async fn set_password(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL,
                          generation = generation + 1
         WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .execute(conn)
    .await?;
    Ok(())
}
