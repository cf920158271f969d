//! Login and Unlock: password (argon2id, on the bounded pool), TOTP with replay refusal, and the
//! account lockout whose attempts are reserved atomically before the slow hash runs.

use std::net::IpAddr;
use std::sync::Arc;
use tracing::Instrument as _;

use serde_json::json;
use tessera_core::{password::Password, totp::TotpSecret};
use tessera_rules::{
    namespace::Namespace,
    permission::PermissionSet,
    token::{TokenHash, TokenKind, TokenSecret},
    ttl::parse_ttl,
};
use tessera_store::{
    tokens::NewToken,
    users::{self, AttemptReservation, UserRow},
    PgTransaction,
};
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use super::{view::TokenView, Authority};
use crate::{error::ApiError, hash_pool::Ticket, settings::Redacted};

/// How long an attempt waits for the attempts in flight on its account to end.
const BUSY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);
/// The first pause between reservation tries while the account is busy (doubling from here).
const BUSY_FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
/// The longest pause between reservation tries.
const BUSY_LAST_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs `attempt` on its own task, in the current span, so that dropping the returned future
/// (the caller went away) does not stop it halfway.
async fn run_to_the_end<F>(attempt: F) -> Result<LoginOutcome, ApiError>
where
    F: std::future::Future<Output = Result<LoginOutcome, ApiError>> + Send + 'static,
{
    // The audit trail reads the connection's client certificate from a task-local: carry it over.
    let certificate = crate::tls::current_client_certificate();
    tokio::spawn(crate::tls::with_client_certificate(certificate, attempt).in_current_span())
        .await
        .map_err(|e| ApiError::Internal(format!("a login attempt's task failed: {e}")))?
}

/// A successful Login or Unlock.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The new token's secret (shown once).
    pub token: TokenSecret,
    /// Its public id.
    pub token_id: Uuid,
    /// Its expiry.
    pub expires_at: OffsetDateTime,
    /// Its session.
    pub session_id: Uuid,
    /// The account.
    pub user: UserRow,
}

/// Whether a TOTP check is needed and how it went.
enum SecondFactor {
    NotEnrolled,
    Missing,
    Wrong,
    Accepted(i64),
}

impl Authority {
    /// Verifies credentials and opens a session. Unknown user, disabled account and wrong password
    /// answer identically and cost the same hash verification.
    ///
    /// The attempt runs to its end even when the caller goes away (a cancelled call, a client
    /// deadline): from its reservation to its outcome it holds a slot counted as a failure, and
    /// an attempt dropped halfway would leave that slot counted for good, a right password
    /// turned into a failure and, after a few, an account no one can log in to.
    ///
    /// `source` is the client's address: one address holds at most its share of the hashing
    /// pool ([`crate::hash_pool`]).
    pub async fn login(
        &self,
        username: &str,
        password: Password,
        totp_code: &str,
        source: Option<IpAddr>,
    ) -> Result<LoginOutcome, ApiError> {
        if username.is_empty() {
            return Err(ApiError::invalid("username", "username must not be empty"));
        }
        // A flood is refused before it costs a database round trip.
        let ticket = self.hash_pool.admit_from(source)?;
        let this = self.clone();
        let (username, totp_code) = (username.to_owned(), totp_code.to_owned());
        run_to_the_end(async move {
            this.login_attempt(ticket, &username, password, &totp_code)
                .await
        })
        .await
    }

    async fn login_attempt(
        &self,
        ticket: Ticket,
        username: &str,
        password: Password,
        totp_code: &str,
    ) -> Result<LoginOutcome, ApiError> {
        let user = users::find_by_username(&self.pool, username)
            .instrument(crate::service::store_span(
                "SELECT",
                "users::find_by_username",
            ))
            .await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            return self.refuse_unknown(&ticket, username, password).await;
        };
        self.check_credentials(&ticket, &user, password, totp_code, "login")
            .await?;

        self.open_session(user).await
    }

    /// Opens a session for an account whose credentials were just verified.
    async fn open_session(&self, user: UserRow) -> Result<LoginOutcome, ApiError> {
        let now = self.clock.now();
        let token = TokenSecret::generate(TokenKind::Session);
        let token_id = Uuid::new_v4();
        let expires_at = now + self.settings.session_ttl;
        let Some(tx) = self.still_verified(&user).await? else {
            self.record_failure(Some(user.id), &user.username, "credentials_changed")
                .await?;
            return Err(ApiError::InvalidCredentials);
        };
        let row = NewToken {
            id: token_id,
            hash: TokenHash::of(token.expose()),
            kind: TokenKind::Session,
            subject: Some(user.id),
            parent_id: None,
            session_id: Some(token_id),
            namespace: Namespace::All.as_str().to_owned(),
            permissions: PermissionSet::all().to_vec(),
            elevated: false,
            description: "login session".into(),
            issued_at: now,
            expires_at: Some(expires_at),
            max_uses: None,
        };
        let mut event = self.event("login", "success");
        event.actor = Some(user.id);
        event.username = Some(user.username.clone());
        event.token_id = Some(token_id);
        self.store_minted(tx, &row, event).await?;
        info!(user_id = %user.id, token_id = %token_id, "login succeeded");
        Ok(LoginOutcome {
            token,
            token_id,
            expires_at,
            session_id: token_id,
            user,
        })
    }

    /// Begins the transaction that mints a token for `user`, locking the account row and
    /// checking it is still the one whose password was verified: a reset, disable or role change
    /// either waits for this token (and then revokes it) or won the race, and then `None`.
    async fn still_verified(&self, user: &UserRow) -> Result<Option<PgTransaction>, ApiError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(tessera_store::StoreError::from)?;
        let current = users::record_success(&mut tx, user.id, user.generation)
            .instrument(crate::service::store_span(
                "UPDATE",
                "users::record_success",
            ))
            .await?;
        Ok(current.then_some(tx))
    }

    /// Mints a short-lived elevated child of the caller's session. Like [`Authority::login`], the
    /// attempt runs to its end even when the caller goes away.
    pub async fn unlock(
        &self,
        caller: &TokenView,
        password: Password,
        totp_code: &str,
        ttl: &str,
        source: Option<IpAddr>,
    ) -> Result<LoginOutcome, ApiError> {
        if caller.kind != TokenKind::Session {
            return Err(ApiError::AuthDenied(
                "unlock needs a login session token".into(),
            ));
        }
        let ttl = self.unlock_ttl(ttl)?;
        let ticket = self.hash_pool.admit_from(source)?;
        let this = self.clone();
        let caller = caller.clone();
        let totp_code = totp_code.to_owned();
        run_to_the_end(async move {
            this.unlock_attempt(ticket, &caller, password, &totp_code, ttl)
                .await
        })
        .await
    }

    async fn unlock_attempt(
        &self,
        ticket: Ticket,
        caller: &TokenView,
        password: Password,
        totp_code: &str,
        ttl: time::Duration,
    ) -> Result<LoginOutcome, ApiError> {
        let subject = caller.subject.ok_or(ApiError::AuthFailed)?;
        let user = users::find_by_id(&self.pool, subject)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ApiError::AuthFailed)?;
        let via = self
            .check_unlock_credentials(&ticket, &user, password, totp_code)
            .await?;
        self.mint_elevated(caller, user, ttl, via).await
    }

    /// The unlock's lifetime: the cap when none is asked for, refused above it.
    fn unlock_ttl(&self, ttl: &str) -> Result<time::Duration, ApiError> {
        let cap = self.settings.unlock_ttl_cap;
        if ttl.trim().is_empty() {
            return Ok(cap);
        }
        let ttl = parse_ttl(ttl).map_err(|e| ApiError::invalid("ttl", e.to_string()))?;
        if ttl > cap {
            return Err(ApiError::invalid(
                "ttl",
                format!(
                    "ttl {} exceeds the unlock cap of {}",
                    tessera_rules::ttl::format_ttl(ttl),
                    tessera_rules::ttl::format_ttl(cap)
                ),
            ));
        }
        Ok(ttl)
    }

    /// Checks the break-glass root password, else (for a session-root role) the account's own
    /// password and second factor; every failure is counted. Says which one matched.
    async fn check_unlock_credentials(
        &self,
        ticket: &Ticket,
        user: &UserRow,
        password: Password,
        totp_code: &str,
    ) -> Result<&'static str, ApiError> {
        if !self.reserve(user).await? {
            return self.refuse_locked(ticket, user, password, "unlock").await;
        }
        let root_match = match &self.settings.root_password_hash {
            Some(Redacted(phc)) => {
                let (hasher, phc, candidate) =
                    (Arc::clone(&self.hasher), phc.clone(), password.clone());
                self.hash_reserved(ticket, user, move || hasher.verify(&phc, &candidate))
                    .await?
            }
            None => false,
        };
        if root_match {
            return Ok("root_password");
        }
        if !user.role()?.is_session_root() {
            self.fail_reserved(user, "unlock", "wrong_root_password")
                .await?;
            return Err(ApiError::InvalidCredentials);
        }
        self.verify_reserved(ticket, user, password, totp_code, "unlock")
            .await?;
        Ok("own_password")
    }

    /// Mints the elevated child of the caller's session, never outliving it.
    async fn mint_elevated(
        &self,
        caller: &TokenView,
        user: UserRow,
        ttl: time::Duration,
        via: &'static str,
    ) -> Result<LoginOutcome, ApiError> {
        let now = self.clock.now();
        let expires_at = caller
            .expires_at
            .map_or(now + ttl, |parent| parent.min(now + ttl));
        let token = TokenSecret::generate(TokenKind::Elevated);
        let token_id = Uuid::new_v4();
        let tx = self
            .still_verified(&user)
            .await?
            .ok_or(ApiError::AuthFailed)?;
        let row = NewToken {
            id: token_id,
            hash: TokenHash::of(token.expose()),
            kind: TokenKind::Elevated,
            subject: Some(user.id),
            parent_id: Some(caller.id),
            session_id: caller.session_id,
            namespace: Namespace::All.as_str().to_owned(),
            permissions: PermissionSet::all().to_vec(),
            elevated: true,
            description: "unlock".into(),
            issued_at: now,
            expires_at: Some(expires_at),
            max_uses: None,
        };
        let mut event = self.event("unlock", "success");
        event.actor = Some(user.id);
        event.username = Some(user.username.clone());
        event.token_id = Some(token_id);
        event.detail = json!({ "via": via, "parent": caller.id });
        self.store_minted(tx, &row, event).await?;
        info!(user_id = %user.id, token_id = %token_id, "unlocked");
        Ok(LoginOutcome {
            token,
            token_id,
            expires_at,
            session_id: caller.session_id.unwrap_or(caller.id),
            user,
        })
    }

    /// Reserves an attempt, then verifies password and second factor; every failure is counted.
    async fn check_credentials(
        &self,
        ticket: &Ticket,
        user: &UserRow,
        password: Password,
        totp_code: &str,
        action: &'static str,
    ) -> Result<(), ApiError> {
        if !self.reserve(user).await? {
            return self.refuse_locked(ticket, user, password, action).await;
        }
        self.verify_reserved(ticket, user, password, totp_code, action)
            .await
    }

    /// Takes a login attempt; false when the account is locked. While the attempts in flight
    /// fill the slots left below the limit, it waits for one to end instead of refusing: a
    /// refusal here would turn a right password into a failure (and, past the limit, a lockout).
    /// Waiting keeps the bound (no more than the limit's worth of passwords is ever checked at
    /// once) and costs a right password at most the few hashes ahead of it. An account still
    /// busy after [`BUSY_PATIENCE`] is answered like a full hashing pool, which says nothing
    /// about the account and counts nothing against it.
    async fn reserve(&self, user: &UserRow) -> Result<bool, ApiError> {
        let waited = std::time::Instant::now();
        let mut pause = BUSY_FIRST_PAUSE;
        loop {
            let now = self.clock.now();
            let reservation =
                users::reserve_attempt(&self.pool, user.id, now, self.settings.max_failed_logins)
                    .instrument(crate::service::store_span(
                        "UPDATE",
                        "users::reserve_attempt",
                    ))
                    .await?;
            match reservation {
                AttemptReservation::Reserved => return Ok(true),
                AttemptReservation::Locked => return Ok(false),
                AttemptReservation::Busy if waited.elapsed() < BUSY_PATIENCE => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(BUSY_LAST_PAUSE);
                }
                AttemptReservation::Busy => {
                    warn!(user_id = %user.id, "login attempts kept every slot busy; refused as busy");
                    return Err(ApiError::ResourceExhausted(
                        "too many password checks in flight; retry shortly".into(),
                    ));
                }
            }
        }
    }

    /// A locked account answers exactly like a wrong password: the same INVALID_CREDENTIALS, after
    /// the same argon2 work (its result is ignored: even the right password is refused while
    /// locked). Otherwise the fast answer and its distinct reason would tell an attacker which
    /// accounts exist. The audit trail keeps the real reason.
    async fn refuse_locked<T>(
        &self,
        ticket: &Ticket,
        user: &UserRow,
        password: Password,
        action: &'static str,
    ) -> Result<T, ApiError> {
        let (hasher, phc) = (Arc::clone(&self.hasher), user.password_hash.clone());
        ticket.run(move || hasher.verify(&phc, &password)).await?;
        // The same bookkeeping as a wrong password (its UPDATE finds the lock already set), so
        // the database work takes the same time too.
        self.fail_reserved(user, action, "account_locked").await?;
        Err(ApiError::InvalidCredentials)
    }

    /// With an attempt already reserved: checks the password and the second factor.
    async fn verify_reserved(
        &self,
        ticket: &Ticket,
        user: &UserRow,
        password: Password,
        totp_code: &str,
        action: &'static str,
    ) -> Result<(), ApiError> {
        let (hasher, phc) = (Arc::clone(&self.hasher), user.password_hash.clone());
        let password_ok = self
            .hash_reserved(ticket, user, move || hasher.verify(&phc, &password))
            .await?;
        if !password_ok {
            self.fail_reserved(user, action, "wrong_password").await?;
            return Err(ApiError::InvalidCredentials);
        }
        match self.second_factor(user, totp_code)? {
            SecondFactor::NotEnrolled => Ok(()),
            SecondFactor::Missing => {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(tessera_store::StoreError::from)?;
                users::release_attempt(&mut conn, user.id)
                    .instrument(crate::service::store_span(
                        "UPDATE",
                        "users::release_attempt",
                    ))
                    .await?;
                Err(ApiError::MfaRequired)
            }
            SecondFactor::Wrong => {
                self.fail_reserved(user, action, "wrong_totp").await?;
                Err(ApiError::InvalidCredentials)
            }
            SecondFactor::Accepted(step) => {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(tessera_store::StoreError::from)?;
                if users::accept_totp_step(&mut conn, user.id, step)
                    .instrument(crate::service::store_span(
                        "UPDATE",
                        "users::accept_totp_step",
                    ))
                    .await?
                {
                    Ok(())
                } else {
                    drop(conn);
                    // The same code won a race elsewhere: a replay.
                    self.fail_reserved(user, action, "totp_replayed").await?;
                    Err(ApiError::InvalidCredentials)
                }
            }
        }
    }

    /// Runs a password check for an attempt already reserved. If the check cannot run (its
    /// hashing thread failed), the attempt is given back: no password was checked, so it must not
    /// count towards the lockout.
    async fn hash_reserved<F>(
        &self,
        ticket: &Ticket,
        user: &UserRow,
        job: F,
    ) -> Result<bool, ApiError>
    where
        F: FnOnce() -> bool + Send + 'static,
    {
        match ticket.run(job).await {
            Ok(matched) => Ok(matched),
            Err(err) => {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(tessera_store::StoreError::from)?;
                users::release_attempt(&mut conn, user.id)
                    .instrument(crate::service::store_span(
                        "UPDATE",
                        "users::release_attempt",
                    ))
                    .await?;
                Err(err)
            }
        }
    }

    fn second_factor(&self, user: &UserRow, code: &str) -> Result<SecondFactor, ApiError> {
        let Some(sealed) = &user.totp_sealed else {
            return Ok(SecondFactor::NotEnrolled);
        };
        if code.trim().is_empty() {
            return Ok(SecondFactor::Missing);
        }
        let Some(Redacted(key)) = &self.settings.totp_key else {
            return Err(ApiError::Internal(
                "an account has TOTP enrolled but no TOTP key is configured (TESSERA_TOTP_KEY)"
                    .into(),
            ));
        };
        let seed = key.open(sealed).map_err(|_| {
            ApiError::Internal(format!(
                "totp seed of user {} does not open with the configured key",
                user.id
            ))
        })?;
        let secret = TotpSecret::from_bytes(seed.to_vec());
        Ok(
            match secret.verify(code.trim(), self.clock.now(), user.totp_last_step) {
                Some(step) => SecondFactor::Accepted(step),
                None => SecondFactor::Wrong,
            },
        )
    }

    /// Counts a failed attempt that was reserved, locking the account at the limit, with audit.
    async fn fail_reserved(
        &self,
        user: &UserRow,
        action: &'static str,
        why: &'static str,
    ) -> Result<(), ApiError> {
        let lock_until = self.clock.now() + self.settings.lockout;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(tessera_store::StoreError::from)?;
        let locked = users::record_failure(
            &mut tx,
            user.id,
            self.settings.max_failed_logins,
            lock_until,
        )
        .await?;
        let mut event = self.event(action, "failure");
        event.actor = Some(user.id);
        event.username = Some(user.username.clone());
        event.detail = json!({ "reason": why });
        self.audit(&mut tx, event).await?;
        if let Some(until) = locked {
            let mut event = self.event("lockout", "success");
            event.actor = Some(user.id);
            event.username = Some(user.username.clone());
            event.detail = json!({ "locked_until": until.unix_timestamp() });
            self.audit(&mut tx, event).await?;
            warn!(user_id = %user.id, "account locked after repeated failures");
        }
        tx.commit().await.map_err(tessera_store::StoreError::from)?;
        Ok(())
    }

    /// An unknown or disabled account answers like a wrong password, after the same work: the
    /// same argon2 verification, and the same statements and committed writes as
    /// [`Authority::check_credentials`] then [`Authority::fail_reserved`], made on a decoy row
    /// (`login_decoys`) instead of the account's. Otherwise the missing writes tell, by timing
    /// alone, which names exist.
    async fn refuse_unknown(
        &self,
        ticket: &Ticket,
        username: &str,
        password: Password,
    ) -> Result<LoginOutcome, ApiError> {
        let slot = decoy_slot(username);
        let now = self.clock.now();
        users::reserve_decoy_attempt(&self.pool, slot, now, self.settings.max_failed_logins)
            .instrument(crate::service::store_span(
                "UPDATE",
                "users::reserve_attempt",
            ))
            .await?;
        let hasher = Arc::clone(&self.hasher);
        ticket.run(move || hasher.verify_dummy(&password)).await?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(tessera_store::StoreError::from)?;
        users::record_decoy_failure(&mut tx, slot, now + self.settings.lockout).await?;
        let mut event = self.event("login", "failure");
        event.username = Some(username.to_owned());
        event.detail = json!({ "reason": "unknown_or_disabled" });
        self.audit(&mut tx, event).await?;
        tx.commit().await.map_err(tessera_store::StoreError::from)?;
        Err(ApiError::InvalidCredentials)
    }

    async fn record_failure(
        &self,
        actor: Option<Uuid>,
        username: &str,
        why: &'static str,
    ) -> Result<(), ApiError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(tessera_store::StoreError::from)?;
        let mut event = self.event("login", "failure");
        event.actor = actor;
        event.username = Some(username.to_owned());
        event.detail = json!({ "reason": why });
        self.audit(&mut conn, event).await
    }
}

/// The decoy row for attempts on `username` (see `login_decoys`): spread by a hash of the name so
/// that, like real accounts, attempts on different names rarely wait for one another.
fn decoy_slot(username: &str) -> i16 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::hash::DefaultHasher::new();
    username.hash(&mut hasher);
    i16::try_from(hasher.finish() % users::DECOY_SLOTS).unwrap_or_default()
}
