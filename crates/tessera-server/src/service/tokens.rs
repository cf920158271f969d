//! Issuing derived tokens, introspection, namespace decisions and revocation.

use serde_json::json;
use tessera_proto::bounds;
use tessera_rules::{
    decision::{Decision, Question},
    grant::{derive_child, ChildRequest, Grant},
    namespace::Namespace,
    permission::{PermissionSet, INTROSPECT, ISSUE},
    token::{TokenHash, TokenKind, TokenSecret},
    ttl::parse_ttl,
};
use tessera_store::{
    tokens::{self as token_store, NewToken, RevokeTarget},
    StoreError,
};
use time::OffsetDateTime;
use tracing::Instrument as _;
use tracing::{debug, info};
use uuid::Uuid;

use super::{
    jwt,
    view::{InactiveReason, Lookup, TokenView},
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
    /// The identifiers asked about, in request order.
    pub identifiers: Vec<String>,
    /// The decision for them.
    pub decision: Decision,
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
    /// Many token ids (text from the wire), each with its descendants.
    TokenIds(Vec<String>),
}

/// What a Revoke did.
#[derive(Debug, Clone)]
pub struct RevokeOutcome {
    /// Tokens newly revoked.
    pub revoked: u64,
    /// How far the revocation has reached.
    pub propagation: super::propagation::Propagation,
}

/// Token ids a revoke's audit row lists (with the count of all).
const AUDITED_IDS: usize = 100;

/// An IssueToken request read into the rule's terms: the caller may issue, the kind is issuable,
/// and every field parses (empty fields inherit the caller's).
fn child_request(caller: &TokenView, req: &IssueRequest) -> Result<ChildRequest, ApiError> {
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
    if req.description.len() > bounds::DESCRIPTION {
        return Err(ApiError::invalid(
            "description",
            format!("at most {} bytes", bounds::DESCRIPTION),
        ));
    }
    Ok(ChildRequest {
        ttl: match req.ttl.trim() {
            "" => None,
            ttl => Some(parse_ttl(ttl).map_err(|e| ApiError::invalid("ttl", e.to_string()))?),
        },
        max_uses: (req.max_uses > 0).then_some(req.max_uses),
        namespace: match req.namespace.as_str() {
            "" => None,
            ns => Some(
                Namespace::parse(ns).map_err(|e| ApiError::invalid("namespace", e.to_string()))?,
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
    })
}

impl Authority {
    /// Issues a token derived from the caller's, never broader than it.
    pub async fn issue(
        &self,
        caller: &TokenView,
        req: IssueRequest,
    ) -> Result<IssuedToken, ApiError> {
        let child = child_request(caller, &req)?;
        self.writes.spend(caller)?;
        let now = self.clock.now();
        let grant = self.issuable_grant(caller, &req, &child, now)?;
        let token_id = Uuid::new_v4();
        let (token, kid) = self
            .mint_secret(caller, &req, &grant, token_id, now)
            .await?;
        let row = NewToken {
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
        };
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
        let tx = self.pool.begin().await.map_err(StoreError::from)?;
        self.store_minted(tx, &row, event).await?;
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

    /// What the child may hold: derived from the caller's grant, never broader, and for a service
    /// token never with admin rights.
    fn issuable_grant(
        &self,
        caller: &TokenView,
        req: &IssueRequest,
        child: &ChildRequest,
        now: OffsetDateTime,
    ) -> Result<Grant, ApiError> {
        let grant = derive_child(&caller.grant(), child, now, self.settings.default_token_ttl)
            .map_err(|e| ApiError::PrivilegeExceeded(format!("{}: {e}", e.field)))?;
        if req.kind == TokenKind::Service
            && tessera_rules::role::holds_admin_rights(
                caller.role,
                &grant.permissions,
                grant.elevated,
            )
        {
            return Err(ApiError::OverPrivileged(
                "a service token must not hold admin rights; name only the permissions its job needs, e.g. introspect".into(),
            ));
        }
        Ok(grant)
    }

    /// The new token's secret: random (opaque), or a JWT signed with the current key (its `kid`
    /// returned too).
    async fn mint_secret(
        &self,
        caller: &TokenView,
        req: &IssueRequest,
        grant: &Grant,
        token_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<(TokenSecret, Option<String>), ApiError> {
        match req.format {
            IssueFormat::Opaque => Ok((TokenSecret::generate(req.kind), None)),
            IssueFormat::Jwt => {
                let signer = self.jwt_signer(now).await?;
                let expires_at = grant
                    .expires_at
                    .ok_or_else(|| ApiError::invalid("ttl", "a JWT needs an expiry; name a ttl"))?;
                let claims = jwt::claims_for(token_id, caller, grant, req.kind, now, expires_at);
                let token = TokenSecret::from_string(signer.sign(&claims));
                Ok((token, Some(signer.kid().to_owned())))
            }
        }
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
        let lookup = self.inspect(caller, token, !peek).await?;
        if let Lookup::Inactive(reason) = &lookup {
            debug!(reason = reason.as_str(), caller = %caller.id, "introspected token inactive");
        }
        Ok(lookup)
    }

    /// Reads `token` as `caller` may see it ([`TokenView::sees_tokens_of`]): another account's
    /// token is inactive to a caller that may not inspect it, and loses no use to it.
    async fn inspect(
        &self,
        caller: &TokenView,
        token: &str,
        consume: bool,
    ) -> Result<Lookup, ApiError> {
        if caller.sees_every_token() {
            return self.lookup(token, consume).await;
        }
        // A caller limited to its own account: look first without consuming, so another
        // account's limited-use token keeps its uses.
        match self.lookup(token, false).await? {
            Lookup::Active(view) if !caller.sees_tokens_of(view.subject) => {
                Ok(Lookup::Inactive(InactiveReason::NotVisible))
            }
            Lookup::Active(view) if !consume || view.uses_remaining.is_none() => {
                Ok(Lookup::Active(view))
            }
            Lookup::Active(_) => self.lookup(token, true).await,
            inactive @ Lookup::Inactive(_) => Ok(inactive),
        }
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
        // The question is judged before the token is looked up, with the one decision every
        // dialect uses (`tessera_rules::decision`).
        let question = Question::new(&identifiers, action)
            .map_err(|malformed| ApiError::invalid(malformed.field(), malformed.to_string()))?;
        let view = match self.inspect(caller, token, false).await? {
            Lookup::Active(view) => view,
            Lookup::Inactive(_) => return Ok(None),
        };
        let decision = question.decide(&view.namespace, &view.permissions);
        Ok(Some(NamespaceVerdict {
            token: view,
            identifiers,
            decision,
        }))
    }

    /// Revokes the target and everything derived from it. Own tokens need no privilege; anyone
    /// else's need admin rights. When it returns, this replica's cache no longer holds any of them
    /// and, unless `no_wait`, every follower of the feed with a live lease has acknowledged the
    /// revocation or its lease has run out.
    pub async fn revoke(
        &self,
        caller: &TokenView,
        req: RevokeRequest,
        reason: &str,
        no_wait: bool,
    ) -> Result<RevokeOutcome, ApiError> {
        self.writes.spend(caller)?;
        let (target, own) = self.revoke_target(caller, &req).await?;
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
        // A revoke that changed nothing (unknown or already revoked) leaves no audit row: a caller
        // replaying ids cannot bury real events under empty ones.
        if !revoked.is_empty() {
            let mut event = self.event("revoke", "success");
            event.actor = caller.subject;
            event.username = caller.username.clone();
            event.token_id = revoked.first().map(|r| r.token_id);
            // A tree of 100,000 would make one audit row of megabytes: the first ids and the count.
            event.detail = json!({
                "reason": reason,
                "by_token": caller.id,
                "count": revoked.len(),
                "revoked": revoked
                    .iter()
                    .take(AUDITED_IDS)
                    .map(|r| r.token_id.to_string())
                    .collect::<Vec<_>>(),
            });
            self.audit(&mut tx, event).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        let hashes: Vec<TokenHash> = revoked
            .iter()
            .filter_map(|r| TokenHash::from_slice(&r.token_hash))
            .collect();
        self.cache.invalidate(hashes.iter());
        info!(count = revoked.len(), by = %caller.id, "tokens revoked");
        let newest = revoked.iter().map(|r| r.sequence).max();
        let propagation = match newest {
            Some(sequence) if !no_wait => self.await_followers(sequence).await,
            Some(_) => super::propagation::Propagation::not_waited(),
            None => super::propagation::Propagation::nothing_to_wait_for(),
        };
        Ok(RevokeOutcome {
            revoked: revoked.len() as u64,
            propagation,
        })
    }

    /// The store target of a Revoke, and whether every token it names is the caller's own.
    async fn revoke_target(
        &self,
        caller: &TokenView,
        req: &RevokeRequest,
    ) -> Result<(RevokeTarget, bool), ApiError> {
        let owned_by_caller =
            |subject: Option<Uuid>| subject.is_some() && subject == caller.subject;
        let summary = |field: &'static str, id: &str| {
            let id = parse_uuid(field, id);
            async move {
                let id = id?;
                let owner = token_store::summary(&self.pool, id)
                    .instrument(crate::service::store_span("SELECT", "tokens::summary"))
                    .await?;
                Ok::<_, ApiError>((id, owner.map(|s| s.subject)))
            }
        };
        Ok(match req {
            RevokeRequest::Token(secret) => {
                if secret.is_empty() {
                    return Err(ApiError::invalid("token", "token must not be empty"));
                }
                // Holding the secret is authority enough to revoke it.
                (RevokeTarget::Hash(TokenHash::of(secret)), true)
            }
            RevokeRequest::TokenId(id) => {
                let (id, owner) = summary("token_id", id).await?;
                (RevokeTarget::Id(id), owner.is_none_or(owned_by_caller))
            }
            RevokeRequest::SessionId(id) => {
                let (id, owner) = summary("session_id", id).await?;
                (RevokeTarget::Session(id), owner.is_none_or(owned_by_caller))
            }
            RevokeRequest::Subject(id) => {
                let id = parse_uuid("subject", id)?;
                (RevokeTarget::Subject(id), owned_by_caller(Some(id)))
            }
            RevokeRequest::TokenIds(ids) => {
                if ids.is_empty() {
                    return Err(ApiError::invalid("token_ids", "name at least one token id"));
                }
                let ids = ids
                    .iter()
                    .enumerate()
                    .map(|(index, id)| {
                        Uuid::parse_str(id.trim()).map_err(|_| {
                            ApiError::invalid(
                                "token_ids",
                                format!("token_ids[{index}] must be a UUID"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let owners = token_store::owners(&self.pool, &ids)
                    .instrument(crate::service::store_span("SELECT", "tokens::owners"))
                    .await?;
                let own = owners.iter().all(|(_, subject)| owned_by_caller(*subject));
                (RevokeTarget::Ids(ids), own)
            }
        })
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
