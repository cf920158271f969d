//! Account and token administration: the use cases behind `tessera.v1.AdminService`. Every write
//! needs admin rights, reaches only as high as the caller's rank (see [`rank`]) and is audited in
//! the same transaction; changes that alter what an account's tokens may do (disable, role,
//! password, second factor) revoke those tokens, so every replica's cache drops them.

use serde_json::json;
use tessera_core::{password::Password, totp::TotpSecret};
use tessera_proto::bounds;
use tessera_rules::{role::Role, token::TokenHash};
use tessera_store::{
    audit::{self as audit_store, AuditFilter, AuditRow},
    tokens::{self as token_store, RevokeTarget, TokenInfo},
    users::{self, NewUser, UserSummary},
    PgConnection, StoreError,
};
use time::OffsetDateTime;
use tracing::info;
use tracing::Instrument as _;
use uuid::Uuid;

use super::{view::TokenView, Authority};
use crate::error::ApiError;

mod rank;

use rank::{require_may_change, require_may_give};

const DEFAULT_PAGE: u32 = 50;
const MIN_PASSWORD: usize = 8;

/// A new account as asked for.
#[derive(Debug)]
pub struct CreateUser {
    /// Login name.
    pub username: String,
    /// Human-readable name.
    pub display_name: String,
    /// Role name; empty for `user`.
    pub role: String,
    /// Password.
    pub password: Password,
}

/// A TOTP enrollment in progress: shown to the account's owner, stored only once confirmed.
#[derive(Debug)]
pub struct TotpEnrollment {
    /// The new secret.
    pub secret: TotpSecret,
    /// Its `otpauth://` URI.
    pub uri: String,
}

/// Checks a login name: 1–64 characters of ASCII letters, digits and `. _ @ -`.
pub fn validate_username(username: &str) -> Result<(), ApiError> {
    if username.is_empty() || username.len() > bounds::USERNAME {
        return Err(ApiError::invalid(
            "username",
            format!("a username has 1 to {} characters", bounds::USERNAME),
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
    {
        return Err(ApiError::invalid(
            "username",
            "a username has only letters, digits and . _ @ -",
        ));
    }
    Ok(())
}

/// Checks a new password's length (the only rule: long enough, not absurd).
pub fn validate_password(password: &Password) -> Result<(), ApiError> {
    let length = password.expose().chars().count();
    if length < MIN_PASSWORD {
        return Err(ApiError::invalid(
            "password",
            format!("a password has at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.expose().len() > bounds::PASSWORD {
        return Err(ApiError::invalid(
            "password",
            format!("a password has at most {} bytes", bounds::PASSWORD),
        ));
    }
    Ok(())
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    role.parse()
        .map_err(|e: tessera_rules::role::RoleError| ApiError::invalid("role", e.to_string()))
}

fn page_size(asked: u32) -> i64 {
    i64::from(if asked == 0 {
        DEFAULT_PAGE
    } else {
        asked.min(bounds::PAGE)
    })
}

impl Authority {
    fn require_admin(&self, caller: &TokenView) -> Result<(), ApiError> {
        if caller.holds_admin_rights() {
            Ok(())
        } else {
            Err(ApiError::ElevationRequired(
                "this needs an admin role or an elevated token (Unlock) holding the admin permission".into(),
            ))
        }
    }

    async fn account(
        &self,
        conn: &mut PgConnection,
        username: &str,
    ) -> Result<UserSummary, ApiError> {
        validate_username(username)?;
        users::summary(conn, username)
            .await?
            .ok_or_else(|| ApiError::UserNotFound(username.to_owned()))
    }

    /// Records an admin write by `caller` about `account`.
    async fn audit_admin(
        &self,
        conn: &mut PgConnection,
        caller: &TokenView,
        action: &'static str,
        account: &UserSummary,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let mut event = self.event(action, "success");
        event.actor = caller.subject;
        event.username = Some(account.username.clone());
        event.token_id = Some(caller.id);
        event.detail = json!({ "account": account.id, "by_token": caller.id, "detail": detail });
        self.audit(conn, event).await
    }

    /// Revokes every token of `account` inside the transaction; returns the hashes to drop from the
    /// local cache once committed.
    async fn revoke_account_tokens(
        &self,
        conn: &mut PgConnection,
        account: Uuid,
    ) -> Result<Vec<TokenHash>, ApiError> {
        let revoked = token_store::revoke(conn, &RevokeTarget::Subject(account), self.clock.now())
            .instrument(crate::service::store_span("UPDATE", "tokens::revoke"))
            .await?;
        Ok(revoked
            .iter()
            .filter_map(|r| TokenHash::from_slice(&r.token_hash))
            .collect())
    }

    /// Creates an account.
    pub async fn create_user(
        &self,
        caller: &TokenView,
        new: CreateUser,
    ) -> Result<UserSummary, ApiError> {
        self.require_admin(caller)?;
        validate_username(&new.username)?;
        let role = if new.role.trim().is_empty() {
            Role::User
        } else {
            parse_role(&new.role)?
        };
        require_may_give(caller, role)?;
        validate_password(&new.password)?;
        let password_hash = self.hash_password(new.password).await?;
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let user = NewUser {
            id: Uuid::new_v4(),
            username: new.username.clone(),
            display_name: new.display_name.trim().to_owned(),
            role,
            password_hash,
            created_at: self.clock.now(),
        };
        if !users::insert_if_absent(&mut tx, &user)
            .instrument(crate::service::store_span(
                "INSERT",
                "users::insert_if_absent",
            ))
            .await?
        {
            return Err(ApiError::UserExists(new.username));
        }
        let account = self.account(&mut tx, &user.username).await?;
        self.audit_admin(
            &mut tx,
            caller,
            "user.create",
            &account,
            json!({ "role": role.as_str() }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        info!(user_id = %account.id, role = role.as_str(), "account created");
        Ok(account)
    }

    /// Lists accounts by username; returns the page and the token for the next one.
    pub async fn list_users(
        &self,
        caller: &TokenView,
        size: u32,
        page_token: &str,
    ) -> Result<(Vec<UserSummary>, String), ApiError> {
        self.require_admin(caller)?;
        let after = (!page_token.is_empty()).then_some(page_token);
        let limit = page_size(size);
        let page = users::list(&self.pool, after, limit)
            .instrument(crate::service::store_span("SELECT", "users::list"))
            .await?;
        let next = if page.len() as i64 == limit {
            page.last().map(|u| u.username.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((page, next))
    }

    /// Disables (revoking every token of the account) or enables an account.
    pub async fn set_user_disabled(
        &self,
        caller: &TokenView,
        username: &str,
        disabled: bool,
    ) -> Result<UserSummary, ApiError> {
        self.require_admin(caller)?;
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let account = self.account(&mut tx, username).await?;
        require_may_change(caller, &account)?;
        users::set_disabled(&mut tx, account.id, disabled)
            .instrument(crate::service::store_span("UPDATE", "users::set_disabled"))
            .await?;
        let dropped = if disabled {
            self.revoke_account_tokens(&mut tx, account.id).await?
        } else {
            Vec::new()
        };
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        self.audit_admin(
            &mut tx,
            caller,
            action,
            &account,
            json!({ "tokens_revoked": dropped.len() }),
        )
        .await?;
        let account = self.account(&mut tx, username).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.cache.invalidate(dropped.iter());
        info!(user_id = %account.id, disabled, "account state changed");
        Ok(account)
    }

    /// Changes an account's role; its tokens are revoked so the new role applies at once.
    pub async fn set_role(
        &self,
        caller: &TokenView,
        username: &str,
        role: &str,
    ) -> Result<UserSummary, ApiError> {
        self.require_admin(caller)?;
        let role = parse_role(role)?;
        require_may_give(caller, role)?;
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let account = self.account(&mut tx, username).await?;
        require_may_change(caller, &account)?;
        let changed = users::set_role(&mut tx, account.id, role)
            .instrument(crate::service::store_span("UPDATE", "users::set_role"))
            .await?;
        let dropped = if changed {
            self.revoke_account_tokens(&mut tx, account.id).await?
        } else {
            Vec::new()
        };
        self.audit_admin(
            &mut tx,
            caller,
            "user.role",
            &account,
            json!({ "from": account.role, "to": role.as_str(), "tokens_revoked": dropped.len() }),
        )
        .await?;
        let account = self.account(&mut tx, username).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.cache.invalidate(dropped.iter());
        Ok(account)
    }

    /// Replaces an account's password, clears its lock and revokes its tokens.
    pub async fn set_password(
        &self,
        caller: &TokenView,
        username: &str,
        password: Password,
    ) -> Result<(), ApiError> {
        self.require_admin(caller)?;
        validate_username(username)?;
        validate_password(&password)?;
        let password_hash = self.hash_password(password).await?;
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let account = self.account(&mut tx, username).await?;
        require_may_change(caller, &account)?;
        users::set_password(&mut tx, account.id, &password_hash)
            .instrument(crate::service::store_span("UPDATE", "users::set_password"))
            .await?;
        let dropped = self.revoke_account_tokens(&mut tx, account.id).await?;
        self.audit_admin(
            &mut tx,
            caller,
            "user.password",
            &account,
            json!({ "tokens_revoked": dropped.len() }),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.cache.invalidate(dropped.iter());
        Ok(())
    }

    /// Makes a TOTP secret for an account; nothing is stored until [`Authority::confirm_totp`].
    pub async fn begin_totp(
        &self,
        caller: &TokenView,
        username: &str,
    ) -> Result<TotpEnrollment, ApiError> {
        self.require_admin(caller)?;
        self.totp_key()?;
        let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
        let account = self.account(&mut conn, username).await?;
        require_may_change(caller, &account)?;
        let secret = TotpSecret::generate();
        let uri = secret.otpauth_uri("Tessera", &account.username);
        Ok(TotpEnrollment { secret, uri })
    }

    /// Stores `secret` as the account's second factor once `code` checks out against it.
    pub async fn confirm_totp(
        &self,
        caller: &TokenView,
        username: &str,
        secret: &str,
        code: &str,
    ) -> Result<UserSummary, ApiError> {
        self.require_admin(caller)?;
        let key = self.totp_key()?;
        let secret = TotpSecret::from_base32(secret)
            .filter(|s| s.as_bytes().len() >= 16)
            .ok_or_else(|| {
                ApiError::invalid(
                    "secret",
                    "the secret must be the base32 text BeginTotpEnrollment returned",
                )
            })?;
        let Some(step) = secret.verify(code.trim(), self.clock.now(), None) else {
            return Err(ApiError::invalid("code", "the code does not match the secret; check the authenticator's clock and try a fresh code"));
        };
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let account = self.account(&mut tx, username).await?;
        require_may_change(caller, &account)?;
        users::set_totp(&mut tx, account.id, Some(&key.seal(secret.as_bytes()))).await?;
        // The confirming code is spent: it cannot log in afterwards.
        users::accept_totp_step(&mut tx, account.id, step)
            .instrument(crate::service::store_span(
                "UPDATE",
                "users::accept_totp_step",
            ))
            .await?;
        // Sessions opened without the second factor end with the change.
        let dropped = self.revoke_account_tokens(&mut tx, account.id).await?;
        self.audit_admin(
            &mut tx,
            caller,
            "totp.enroll",
            &account,
            json!({ "tokens_revoked": dropped.len() }),
        )
        .await?;
        let account = self.account(&mut tx, username).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.cache.invalidate(dropped.iter());
        Ok(account)
    }

    /// Removes an account's second factor.
    pub async fn remove_totp(
        &self,
        caller: &TokenView,
        username: &str,
    ) -> Result<UserSummary, ApiError> {
        self.require_admin(caller)?;
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let account = self.account(&mut tx, username).await?;
        require_may_change(caller, &account)?;
        users::set_totp(&mut tx, account.id, None)
            .instrument(crate::service::store_span("UPDATE", "users::set_totp"))
            .await?;
        // Whoever removed it may hold the password: the sessions opened with it end here.
        let dropped = self.revoke_account_tokens(&mut tx, account.id).await?;
        self.audit_admin(
            &mut tx,
            caller,
            "totp.remove",
            &account,
            json!({ "tokens_revoked": dropped.len() }),
        )
        .await?;
        let account = self.account(&mut tx, username).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.cache.invalidate(dropped.iter());
        Ok(account)
    }

    fn totp_key(&self) -> Result<&tessera_core::seal::SealingKey, ApiError> {
        self.settings
            .totp_key
            .as_ref()
            .map(|k| &k.0)
            .ok_or_else(|| {
                ApiError::Internal(
                    "TOTP enrollment needs TESSERA_TOTP_KEY configured on the server".into(),
                )
            })
    }

    /// Lists an account's tokens (the caller's own when `username` is empty). Others' need admin
    /// rights.
    pub async fn list_tokens(
        &self,
        caller: &TokenView,
        username: &str,
        include_inactive: bool,
    ) -> Result<Vec<TokenInfo>, ApiError> {
        let subject = if username.is_empty() {
            caller.subject.ok_or_else(|| {
                ApiError::invalid("username", "this token acts for no account; name one")
            })?
        } else {
            let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
            let account = self.account(&mut conn, username).await?;
            if Some(account.id) != caller.subject {
                self.require_admin(caller)?;
            }
            account.id
        };
        Ok(token_store::list_for_subject(
            &self.pool,
            subject,
            include_inactive,
            self.clock.now(),
            i64::from(bounds::PAGE),
        )
        .await?)
    }

    /// One token by id: the caller's own, or anyone's with admin rights.
    pub async fn token_info(
        &self,
        caller: &TokenView,
        token_id: &str,
    ) -> Result<TokenInfo, ApiError> {
        let id = Uuid::parse_str(token_id.trim())
            .map_err(|_| ApiError::invalid("token_id", "token_id must be a UUID"))?;
        let info = token_store::info(&self.pool, id)
            .instrument(crate::service::store_span("SELECT", "tokens::info"))
            .await?;
        match info {
            Some(info) if info.subject.is_some() && info.subject == caller.subject => Ok(info),
            Some(info) => {
                self.require_admin(caller)?;
                Ok(info)
            }
            None => {
                self.require_admin(caller)?;
                Err(ApiError::TokenNotFound(id.to_string()))
            }
        }
    }

    /// Audit events, newest first; returns the page and the token for the next one.
    pub async fn list_audit(
        &self,
        caller: &TokenView,
        mut filter: AuditFilter,
        size: u32,
        page_token: &str,
    ) -> Result<(Vec<AuditRow>, String), ApiError> {
        self.require_admin(caller)?;
        if !page_token.is_empty() {
            filter.before_id = Some(page_token.parse().map_err(|_| {
                ApiError::invalid("page_token", "pass back next_page_token unchanged")
            })?);
        }
        let limit = page_size(size);
        let page = audit_store::list(&self.pool, &filter, limit).await?;
        let next = if page.len() as i64 == limit {
            page.last().map(|e| e.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((page, next))
    }

    /// The server's clock reading (adapters use it to convert times).
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}
