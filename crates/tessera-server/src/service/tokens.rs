//! Issuing derived tokens, introspection, namespace decisions and revocation.

use serde_json::json;
use tessera_core::{
    grant::{derive_child, ChildRequest},
    namespace::{validate_identifier, Namespace},
    permission::{PermissionSet, INTROSPECT, ISSUE},
    token::{TokenHash, TokenKind, TokenSecret},
    ttl::parse_ttl,
};
use tessera_store::{
    tokens::{self as token_store, ChildInsert, NewToken, RevokeTarget},
    StoreError,
};
use time::OffsetDateTime;
use tracing::Instrument as _;
use tracing::{debug, info};
use uuid::Uuid;

use super::{
    jwt,
    view::{Lookup, TokenView},
    Authority,
};
use crate::error::ApiError;

/// An IssueToken request in domain terms, still unvalidated strings from the wire.
#[derive(Debug, Default, Clone)]
pub struct IssueRequest {
    /// Lifetime such as "15m"; empty for the default.
    pub ttl: String,
    /// Use limit; 0 for none of its own.
    pub max_uses: u32,
    /// Namespace; empty for the caller's.
    pub namespace: String,
    /// Permissions; empty for the caller's.
    pub permissions: Vec<String>,
    /// Free text.
    pub description: String,
    /// `Api` or `Service`.
    pub kind: TokenKind,
    /// How the token is encoded.
    pub format: IssueFormat,
}

/// How an issued token is encoded. Either way the store keeps only the SHA-256 of its text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum IssueFormat {
    /// A `tsr_…` string.
    #[default]
    Opaque,
    /// An EdDSA-signed JWT whose `jti` is the token id.
    Jwt,
}

/// A freshly issued token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The secret, shown once.
    pub token: TokenSecret,
    /// Public id.
    pub token_id: Uuid,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Namespace granted.
    pub namespace: Namespace,
    /// Permissions granted.
    pub permissions: PermissionSet,
    /// Use limit granted.
    pub max_uses: Option<u32>,
}

/// The answer to CheckNamespace for an active token.
#[derive(Debug, Clone)]
pub struct NamespaceVerdict {
    /// The token examined.
    pub token: std::sync::Arc<TokenView>,
    /// One decision per identifier, in request order.
    pub results: Vec<(String, bool)>,
    /// Whether the requested action is held (true when none was asked).
    pub action_held: bool,
}

/// What a Revoke names.
#[derive(Debug, Clone)]
pub enum RevokeRequest {
    /// A token secret.
    Token(String),
    /// A token id (text from the wire).
    TokenId(String),
    /// A session id.
    SessionId(String),
    /// A subject (user id).
    Subject(String),
}

const MAX_IDENTIFIERS: usize = 1000;
const MAX_DESCRIPTION: usize = 512;

impl Authority {
    /// Issues a token derived from the caller's, never broader than it.
    pub async fn issue(
        &self,
        caller: &TokenView,
        req: IssueRequest,
    ) -> Result<IssuedToken, ApiError> {
        if !caller.permissions.permits(ISSUE) {
            return Err(ApiError::AuthDenied(
                "the caller's token lacks the issue permission".into(),
            ));
        }
        if !matches!(req.kind, TokenKind::Api | TokenKind::Service) {
            return Err(ApiError::invalid(
                "token_type",
                "only API and SERVICE tokens can be issued",
            ));
        }
        if req.description.len() > MAX_DESCRIPTION {
            return Err(ApiError::invalid(
                "description",
                format!("at most {MAX_DESCRIPTION} bytes"),
            ));
        }
        let child = ChildRequest {
            ttl: match req.ttl.trim() {
                "" => None,
                ttl => Some(parse_ttl(ttl).map_err(|e| ApiError::invalid("ttl", e.to_string()))?),
            },
            max_uses: (req.max_uses > 0).then_some(req.max_uses),
            namespace: match req.namespace.as_str() {
                "" => None,
                ns => Some(
                    Namespace::parse(ns)
                        .map_err(|e| ApiError::invalid("namespace", e.to_string()))?,
                ),
            },
            permissions: if req.permissions.is_empty() {
                None
            } else {
                Some(
                    PermissionSet::parse(&req.permissions)
                        .map_err(|e| ApiError::invalid("permissions", e.to_string()))?,
                )
            },
        };
        let now = self.clock.now();
        let grant = derive_child(
            &caller.grant(),
            &child,
            now,
            self.settings.default_token_ttl,
        )
        .map_err(|e| ApiError::PrivilegeExceeded(format!("{}: {e}", e.field)))?;
        if req.kind == TokenKind::Service
            && tessera_core::role::holds_admin_rights(
                caller.role,
                &grant.permissions,
                grant.elevated,
            )
        {
            return Err(ApiError::OverPrivileged(
                "a service token must not hold admin rights; name only the permissions its job needs, e.g. introspect".into(),
            ));
        }

        let token_id = Uuid::new_v4();
        let (token, kid) = match req.format {
            IssueFormat::Opaque => (TokenSecret::generate(req.kind), None),
            IssueFormat::Jwt => {
                let signer = self.jwt_signer(now).await?;
                let expires_at = grant
                    .expires_at
                    .ok_or_else(|| ApiError::invalid("ttl", "a JWT needs an expiry; name a ttl"))?;
                let claims = jwt::claims_for(token_id, caller, &grant, req.kind, now, expires_at);
                let token = TokenSecret::from_string(signer.sign(&claims));
                (token, Some(signer.kid().to_owned()))
            }
        };
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let inserted = token_store::insert_child(
            &mut tx,
            &NewToken {
                id: token_id,
                hash: TokenHash::of(token.expose()),
                kind: req.kind,
                subject: caller.subject,
                parent_id: Some(caller.id),
                session_id: caller.session_id,
                namespace: grant.namespace.as_str().to_owned(),
                permissions: grant.permissions.to_vec(),
                elevated: grant.elevated,
                description: req.description.clone(),
                issued_at: now,
                expires_at: grant.expires_at,
                max_uses: grant.uses_remaining,
            },
            now,
        )
        .await?;
        match inserted {
            ChildInsert::Inserted => {}
            // Revoked, expired or used up since it authenticated this call (the view may even
            // come from the cache): the same answer as if it had been refused up front.
            ChildInsert::ParentInactive => return Err(ApiError::AuthFailed),
            ChildInsert::NotEnoughUses => {
                return Err(ApiError::PrivilegeExceeded(
                    "max_uses: the caller's token has fewer uses left than asked for".into(),
                ))
            }
        }
        let mut event = self.event("issue", "success");
        event.actor = caller.subject;
        event.username = caller.username.clone();
        event.token_id = Some(token_id);
        event.detail = json!({
            "parent": caller.id,
            "kind": req.kind.as_str(),
            "namespace": grant.namespace.as_str(),
            "permissions": grant.permissions.to_vec(),
            "max_uses": grant.uses_remaining,
            "format": if kid.is_some() { "jwt" } else { "opaque" },
            "kid": kid,
        });
        self.audit(&mut tx, event).await?;
        tx.commit().await.map_err(StoreError::from)?;
        info!(token_id = %token_id, parent = %caller.id, kind = req.kind.as_str(), "token issued");
        Ok(IssuedToken {
            token,
            token_id,
            expires_at: grant.expires_at,
            namespace: grant.namespace,
            permissions: grant.permissions,
            max_uses: grant.uses_remaining,
        })
    }

    /// Introspects `token` for a caller holding `introspect`; counts a use unless `peek`.
    pub async fn introspect(
        &self,
        caller: &TokenView,
        token: &str,
        peek: bool,
    ) -> Result<Lookup, ApiError> {
        require_introspect(caller)?;
        if token.is_empty() {
            return Err(ApiError::invalid("token", "token must not be empty"));
        }
        let lookup = self.lookup(token, !peek).await?;
        if let Lookup::Inactive(reason) = &lookup {
            debug!(reason = reason.as_str(), caller = %caller.id, "introspected token inactive");
        }
        Ok(lookup)
    }

    /// Decides, for a caller holding `introspect`, whether `token` may touch each identifier.
    /// Never consumes a use. `None` means the token is inactive.
    pub async fn check_namespace(
        &self,
        caller: &TokenView,
        token: &str,
        identifiers: Vec<String>,
        action: &str,
    ) -> Result<Option<NamespaceVerdict>, ApiError> {
        require_introspect(caller)?;
        if token.is_empty() {
            return Err(ApiError::invalid("token", "token must not be empty"));
        }
        if identifiers.is_empty() {
            return Err(ApiError::invalid(
                "identifiers",
                "name at least one identifier",
            ));
        }
        if identifiers.len() > MAX_IDENTIFIERS {
            return Err(ApiError::invalid(
                "identifiers",
                format!("at most {MAX_IDENTIFIERS} identifiers per call"),
            ));
        }
        for (index, identifier) in identifiers.iter().enumerate() {
            validate_identifier(identifier).map_err(|e| {
                ApiError::invalid("identifiers", format!("identifier {index}: {e}"))
            })?;
        }
        if !action.is_empty() {
            // Exact: one name, as a token holds it; never `*`, `-name` or padded with whitespace.
            tessera_core::permission::validate_action(action).map_err(|_| {
                ApiError::invalid(
                    "action",
                    "must be exactly one permission name (lowercase letters, digits and . _ : -, \
                     starting with a letter): no *, no leading -, no whitespace",
                )
            })?;
        }
        let view = match self.lookup(token, false).await? {
            Lookup::Active(view) => view,
            Lookup::Inactive(_) => return Ok(None),
        };
        let results = identifiers
            .into_iter()
            .map(|id| {
                let allowed = view.namespace.allows(&id);
                (id, allowed)
            })
            .collect();
        let action_held = action.is_empty() || view.permissions.permits(action);
        Ok(Some(NamespaceVerdict {
            token: view,
            results,
            action_held,
        }))
    }

    /// Revokes the target and everything derived from it. Own tokens need no privilege; anyone
    /// else's need admin rights. Returns how many tokens were newly revoked. When it returns, this
    /// replica's cache no longer holds any of them.
    pub async fn revoke(
        &self,
        caller: &TokenView,
        req: RevokeRequest,
        reason: &str,
    ) -> Result<u64, ApiError> {
        let (target, owner) = match &req {
            RevokeRequest::Token(secret) => {
                if secret.is_empty() {
                    return Err(ApiError::invalid("token", "token must not be empty"));
                }
                // Holding the secret is authority enough to revoke it.
                (RevokeTarget::Hash(TokenHash::of(secret)), Owner::Holder)
            }
            RevokeRequest::TokenId(id) => {
                let id = parse_uuid("token_id", id)?;
                let owner = match token_store::summary(&self.pool, id)
                    .instrument(crate::service::store_span("SELECT", "tokens::summary"))
                    .await?
                {
                    Some(summary) => Owner::Account(summary.subject),
                    None => Owner::Nobody,
                };
                (RevokeTarget::Id(id), owner)
            }
            RevokeRequest::SessionId(id) => {
                let id = parse_uuid("session_id", id)?;
                let owner = match token_store::summary(&self.pool, id)
                    .instrument(crate::service::store_span("SELECT", "tokens::summary"))
                    .await?
                {
                    Some(summary) => Owner::Account(summary.subject),
                    None => Owner::Nobody,
                };
                (RevokeTarget::Session(id), owner)
            }
            RevokeRequest::Subject(id) => {
                let id = parse_uuid("subject", id)?;
                (RevokeTarget::Subject(id), Owner::Account(Some(id)))
            }
        };
        let own = match owner {
            Owner::Holder | Owner::Nobody => true,
            Owner::Account(subject) => subject.is_some() && subject == caller.subject,
        };
        if !own && !caller.holds_admin_rights() {
            return Err(ApiError::ElevationRequired(
                "revoking another account's tokens needs an admin role or an elevated token (Unlock)".into(),
            ));
        }

        let now = self.clock.now();
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let revoked = token_store::revoke(&mut tx, &target, now)
            .instrument(crate::service::store_span("UPDATE", "tokens::revoke"))
            .await?;
        let mut event = self.event("revoke", "success");
        event.actor = caller.subject;
        event.username = caller.username.clone();
        event.token_id = revoked.first().map(|r| r.token_id);
        event.detail = json!({
            "reason": reason,
            "by_token": caller.id,
            "revoked": revoked.iter().map(|r| r.token_id.to_string()).collect::<Vec<_>>(),
        });
        self.audit(&mut tx, event).await?;
        tx.commit().await.map_err(StoreError::from)?;
        let hashes: Vec<TokenHash> = revoked
            .iter()
            .filter_map(|r| TokenHash::from_slice(&r.token_hash))
            .collect();
        self.cache.invalidate(hashes.iter());
        info!(count = revoked.len(), by = %caller.id, "tokens revoked");
        Ok(revoked.len() as u64)
    }
}

impl Authority {
    async fn jwt_signer(
        &self,
        now: OffsetDateTime,
    ) -> Result<std::sync::Arc<tessera_core::jwt::JwtSigningKey>, ApiError> {
        if let Some(signer) = self.keys.signer(now).await {
            return Ok(signer);
        }
        Err(if self.keys.can_sign() {
            ApiError::invalid(
                "format",
                "no JWT signing key is usable on this server; run `tessera keys rotate` with its --totp-key",
            )
        } else {
            ApiError::invalid(
                "format",
                "JWT tokens are not enabled on this server (it has no --totp-key to seal signing keys); use OPAQUE",
            )
        })
    }
}

enum Owner {
    Holder,
    Nobody,
    Account(Option<Uuid>),
}

fn require_introspect(caller: &TokenView) -> Result<(), ApiError> {
    if caller.permissions.permits(INTROSPECT) {
        Ok(())
    } else {
        Err(ApiError::AuthDenied(
            "the caller's token lacks the introspect permission".into(),
        ))
    }
}

fn parse_uuid(field: &'static str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value.trim())
        .map_err(|_| ApiError::invalid(field, format!("{field} must be a UUID")))
}
