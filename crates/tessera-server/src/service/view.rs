//! What a token is, once read: the decision inputs shared by caller authentication, Introspect,
//! CheckNamespace and the cache. Never holds the secret.

use std::sync::Arc;

use tessera_core::jwt::JwtError;

use tessera_rules::{
    namespace::Namespace,
    permission::PermissionSet,
    role::{holds_admin_rights, Role},
    token::TokenKind,
};
use tessera_store::{tokens::TokenRecord, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

/// An active token's facts.
#[derive(Debug, Clone)]
pub struct TokenView {
    /// Public id.
    pub id: Uuid,
    /// Kind.
    pub kind: TokenKind,
    /// Account, when the token acts for one.
    pub subject: Option<Uuid>,
    /// The account's login name.
    pub username: Option<String>,
    /// The account's role.
    pub role: Option<Role>,
    /// Session it derives from.
    pub session_id: Option<Uuid>,
    /// Namespace it may touch.
    pub namespace: Namespace,
    /// Permissions it holds.
    pub permissions: PermissionSet,
    /// Whether it is elevated.
    pub elevated: bool,
    /// Issue time.
    pub issued_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Uses left, when limited.
    pub uses_remaining: Option<u32>,
}

impl TokenView {
    /// Whether the token may perform admin actions. Admin rights act on accounts, not on names:
    /// a token limited to a namespace never holds them, even when `admin` was asked for by name.
    pub fn holds_admin_rights(&self) -> bool {
        self.namespace == Namespace::All
            && holds_admin_rights(self.role, &self.permissions, self.elevated)
    }

    /// The highest role this token may grant or act on, `None` without admin rights: the
    /// account's role, and at least `admin` while elevated (Unlock gives a `user` admin rights,
    /// not a higher role). The master token and what derives from it act for no account and are
    /// set by whoever holds the database: they rank as `root`.
    pub fn rank(&self) -> Option<Role> {
        if !self.holds_admin_rights() {
            return None;
        }
        match (self.role, self.subject) {
            (Some(role), _) if self.elevated => Some(role.max(Role::Admin)),
            (Some(role), _) => Some(role),
            (None, None) if self.elevated => Some(Role::Root),
            (None, _) => None,
        }
    }

    /// Whether this caller may inspect (Introspect, CheckNamespace, consume a use of) tokens acting
    /// for `subject`. The rule, in docs/architecture.md: tokens acting for no account (the master
    /// token, static tokens) and tokens of an `admin` or higher account, or elevated by Unlock,
    /// inspect every token: they are what services and operators introspect with. A `user`
    /// account's tokens inspect only that account's own tokens; any other answers inactive
    /// (RFC 7662 §2.2: a token the caller may not introspect is not active to it) and loses no use.
    pub fn sees_tokens_of(&self, subject: Option<Uuid>) -> bool {
        self.sees_every_token() || (self.subject.is_some() && subject == self.subject)
    }

    /// Whether this caller may inspect every token ([`TokenView::sees_tokens_of`]).
    pub fn sees_every_token(&self) -> bool {
        match (self.subject, self.role) {
            (None, _) => true,
            _ if self.elevated => true,
            (Some(_), role) => role.is_some_and(Role::is_session_root),
        }
    }

    /// The token's bounds, from which children are derived.
    pub fn grant(&self) -> tessera_rules::grant::Grant {
        tessera_rules::grant::Grant {
            namespace: self.namespace.clone(),
            permissions: self.permissions.clone(),
            expires_at: self.expires_at,
            uses_remaining: self.uses_remaining,
            elevated: self.elevated,
        }
    }

    /// Whether the token is still usable at `now` as far as the view can tell (time only).
    pub fn unexpired_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// Why a token is inactive: for logs and the audit trail only, never for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveReason {
    /// Not a well-formed Tessera token (checksum or grammar) or JWT.
    Malformed,
    /// A JWT whose algorithm, key, signature, issuer or start time was refused.
    Unverified,
    /// No such token.
    Unknown,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// No uses left.
    UsedUp,
    /// Its account is disabled.
    AccountDisabled,
    /// Its account's password, role or enabled state changed after it was issued.
    CredentialsChanged,
    /// Active, but another account's, and the caller may only inspect its own account's tokens
    /// ([`TokenView::sees_tokens_of`]).
    NotVisible,
}

impl InactiveReason {
    /// A short label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            InactiveReason::Malformed => "malformed",
            InactiveReason::Unverified => "unverified",
            InactiveReason::Unknown => "unknown",
            InactiveReason::Revoked => "revoked",
            InactiveReason::Expired => "expired",
            InactiveReason::UsedUp => "used_up",
            InactiveReason::AccountDisabled => "account_disabled",
            InactiveReason::CredentialsChanged => "credentials_changed",
            InactiveReason::NotVisible => "not_visible",
        }
    }
}

impl From<JwtError> for InactiveReason {
    fn from(err: JwtError) -> Self {
        match err {
            JwtError::Malformed => InactiveReason::Malformed,
            JwtError::Expired => InactiveReason::Expired,
            JwtError::AlgorithmRefused
            | JwtError::UnknownKey
            | JwtError::BadSignature
            | JwtError::WrongIssuer
            | JwtError::NotYetValid
            | JwtError::BadKey => InactiveReason::Unverified,
        }
    }
}

/// The outcome of reading a token.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Good right now. Shared with the cache: a hit costs a reference count, not a copy.
    Active(Arc<TokenView>),
    /// Not good; the reason is for logs only.
    Inactive(InactiveReason),
}

/// Decides whether a stored token is active at `now`. `consume` says whether this read asked to
/// count a use: then a limited-use token is active only if this very statement consumed one.
pub fn decide(
    record: Option<TokenRecord>,
    now: OffsetDateTime,
    consume: bool,
) -> Result<Lookup, StoreError> {
    let Some(record) = record else {
        return Ok(Lookup::Inactive(InactiveReason::Unknown));
    };
    if record.revoked_at.is_some() {
        return Ok(Lookup::Inactive(InactiveReason::Revoked));
    }
    if record.expires_at.is_some_and(|at| at <= now) {
        return Ok(Lookup::Inactive(InactiveReason::Expired));
    }
    if record.user_disabled == Some(true) {
        return Ok(Lookup::Inactive(InactiveReason::AccountDisabled));
    }
    if record.credentials_changed {
        return Ok(Lookup::Inactive(InactiveReason::CredentialsChanged));
    }
    if let Some(left) = record.uses_remaining {
        let usable = if consume { record.consumed } else { left > 0 };
        if !usable {
            return Ok(Lookup::Inactive(InactiveReason::UsedUp));
        }
    }
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("token {} has an invalid {what}", record.id));
    let kind = record.kind()?;
    let role = match &record.role {
        Some(name) => Some(name.parse::<Role>().map_err(|_| corrupt("role"))?),
        None => None,
    };
    let namespace = Namespace::from_stored(&record.namespace).map_err(|_| corrupt("namespace"))?;
    let permissions =
        PermissionSet::parse(&record.permissions).map_err(|_| corrupt("permission"))?;
    Ok(Lookup::Active(Arc::new(TokenView {
        id: record.id,
        kind,
        subject: record.subject,
        username: record.username,
        role,
        session_id: record.session_id,
        namespace,
        permissions,
        elevated: record.elevated,
        issued_at: record.issued_at,
        expires_at: record.expires_at,
        uses_remaining: record.uses_remaining.map(|n| n.max(0) as u32),
    })))
}
