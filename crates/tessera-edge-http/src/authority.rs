//! The edge's view of Tessera, on `tessera-client`: the calls the edge makes and the one place
//! their failures become the contract's [`Failure`].
//!
//! Introspect and CheckNamespace are asked with the edge's own service token as the caller and the
//! user's token in the request body. Login needs no caller; Unlock, Revoke and IssueToken act *as
//! the user*, so they carry the user's token as the caller. Connections, TLS, deadlines, retries
//! (only of calls safe to repeat) and fail-over between replicas are the client's.
//!
//! Introspect answers of unlimited-use tokens may come from the [`AnswerCache`], which follows
//! the revocation feed and is bypassed whenever it cannot vouch for an answer; a revocation made
//! through the edge (logout, lock) drops the cached answer at once.

use std::sync::Arc;

use tessera_client::{
    Client, Introspection, IssueToken, IssuedToken, Jwks, Login, NamespaceDecision, RevokeTarget,
    Secret, Session, Unlock,
};

use crate::decision_cache::{AnswerCache, AnswerEpoch, TokenHash};
use crate::token::Token;
use tessera_proto::Failure;

pub use tessera_client::{judge_service_token, ServiceTokenProblem};

/// A look into the decision cache that found nothing (or a cache that is off): the key and the
/// epoch an answer from Tessera is cached under.
#[derive(Debug)]
pub struct Miss(Option<(TokenHash, AnswerEpoch)>);

/// Why a machine caller of the edge is refused (see [`HttpAuthority::vet_caller`]).
#[derive(Debug)]
pub enum CallerRefusal {
    /// The caller's token is not active (unknown, expired, revoked).
    Inactive,
    /// The caller's token is active but lacks `introspect`.
    LacksIntrospect,
    /// Tessera could not say (unreachable, overloaded, the edge's own token refused).
    Undecided(Failure),
}

/// A Tessera client holding the edge's service token.
#[derive(Debug, Clone)]
pub struct HttpAuthority {
    service: Client,
    cache: AnswerCache,
}

impl HttpAuthority {
    /// The authority calling with `service`, a client that holds the edge's service token; it
    /// caches nothing.
    pub fn new(service: Client) -> Self {
        Self {
            service,
            cache: AnswerCache::disabled(),
        }
    }

    /// The same authority answering from `cache` where it may (start following the feed with
    /// [`AnswerCache::follow`]).
    pub fn with_cache(self, cache: AnswerCache) -> Self {
        Self { cache, ..self }
    }

    /// The decision cache.
    pub fn cache(&self) -> &AnswerCache {
        &self.cache
    }

    /// The same connections, calling as the user holding `token`. A token that cannot even be a
    /// header is simply not active.
    fn as_user(&self, token: &Token) -> Result<Client, Failure> {
        self.service
            .with_token(token.expose())
            .map_err(|_| Failure::from_status(&tonic::Status::unauthenticated("token")))
    }

    /// Introspects the edge's own token without using it up, and judges it.
    pub async fn vet_service_token(&self, token: &Secret) -> Result<(), ServiceTokenProblem> {
        use tessera_client::Reason::*;
        match self.service.peek(token.expose()).await {
            Ok(me) => judge_service_token(&me),
            Err(error) => Err(match error.reason() {
                AuthRequired | AuthFailed => ServiceTokenProblem::Inactive,
                AuthDenied => ServiceTokenProblem::LacksIntrospect,
                OverPrivileged | PrivilegeExceeded | ElevationRequired => {
                    ServiceTokenProblem::AdminRights
                }
                // What a failing connection needs (a client certificate, https://, the CA).
                _ => ServiceTokenProblem::Unreachable(
                    self.service
                        .explain_failure(&error, &tessera_client::TlsFlags::SERVICE)
                        .await,
                ),
            }),
        }
    }

    /// Vets the token a machine caller of the edge presents (Envoy calling `Check`, a resource
    /// server calling the OAuth endpoints): it must be active and hold `introspect`, the
    /// permission Tessera itself asks of whoever introspects a token. It is looked at, never used
    /// up, and its answer comes from the decision cache where it may, so a revoked caller is
    /// refused as soon as the feed says so.
    pub async fn vet_caller(&self, caller: &Token) -> Result<Arc<Introspection>, CallerRefusal> {
        let answer = match self.cached(caller) {
            Ok(answer) => answer,
            Err(miss) => Arc::new(
                self.introspect_missed(miss, caller, true)
                    .await
                    .map_err(CallerRefusal::Undecided)?,
            ),
        };
        if !answer.active {
            return Err(CallerRefusal::Inactive);
        }
        if !answer.permits(tessera_rules::permission::INTROSPECT) {
            return Err(CallerRefusal::LacksIntrospect);
        }
        Ok(answer)
    }

    /// Introspects a user's token; counts one use unless `peek`. An unlimited-use token's
    /// answer may come from the decision cache (such a token has no uses to count).
    pub async fn introspect(&self, token: &Token, peek: bool) -> Result<Introspection, Failure> {
        match self.cached(token) {
            Ok(answer) => Ok(Arc::unwrap_or_clone(answer)),
            Err(miss) => self.introspect_missed(miss, token, peek).await,
        }
    }

    /// The decision cache's answer about `token`, or what asking Tessera needs to cache its own.
    pub fn cached(&self, token: &Token) -> Result<Arc<Introspection>, Miss> {
        if !self.cache.is_enabled() {
            return Err(Miss(None));
        }
        let key = TokenHash::of(token.expose());
        match self.cache.get(&key) {
            Some(answer) => Ok(answer),
            None => Err(Miss(Some((key, self.cache.epoch())))),
        }
    }

    /// Asks Tessera after [`HttpAuthority::cached`] missed, and caches the answer where allowed.
    pub async fn introspect_missed(
        &self,
        miss: Miss,
        token: &Token,
        peek: bool,
    ) -> Result<Introspection, Failure> {
        let answer = self.call_introspect(token, peek).await?;
        if let Miss(Some((key, epoch))) = miss {
            self.cache.insert(key, &answer, epoch);
        }
        Ok(answer)
    }

    async fn call_introspect(&self, token: &Token, peek: bool) -> Result<Introspection, Failure> {
        let answer = if peek {
            self.service.peek(token.expose()).await
        } else {
            self.service.introspect(token.expose()).await
        };
        answer.map_err(Failure::from)
    }

    /// Asks whether `token` may touch `identifier` (and holds `action`, when set).
    pub async fn check_namespace(
        &self,
        token: &Token,
        identifier: &str,
        action: &str,
    ) -> Result<NamespaceDecision, Failure> {
        self.service
            .check_namespace(token.expose(), [identifier], action)
            .await
            .map_err(Failure::from)
    }

    /// Opens a session.
    /// With the browser's address named (`Login::for_client`), the call carries the edge's service
    /// token, the credential Tessera asks of whoever names a client's address.
    pub async fn login(&self, login: Login) -> Result<Session, Failure> {
        let caller = if login.client_address.is_some() {
            self.service.clone()
        } else {
            self.service.without_token()
        };
        caller.login(login).await.map_err(Failure::from)
    }

    /// Elevates the session `session`.
    pub async fn unlock(&self, session: &Token, unlock: Unlock) -> Result<IssuedToken, Failure> {
        self.as_user(session)?
            .unlock(unlock)
            .await
            .map_err(Failure::from)
    }

    /// Revokes `token` (and everything derived from it), acting as its holder.
    pub async fn revoke_own(&self, token: &Token, reason: &str) -> Result<u64, Failure> {
        self.revoke_token_as(token, token, reason).await
    }

    /// Revokes `token` (and everything derived from it), acting as `caller`. Holding a token's
    /// secret is authority enough to revoke it (Tessera's Revoke rule), so any active caller may;
    /// like every Revoke, it returns once the revocation reached the feed's followers.
    pub async fn revoke_token_as(
        &self,
        caller: &Token,
        token: &Token,
        reason: &str,
    ) -> Result<u64, Failure> {
        let target = RevokeTarget::Token(Secret::new(token.expose().to_owned()));
        let key = TokenHash::of(token.expose());
        // Before and after: no request after this one is answered from the cache, whatever the
        // outcome (an error may hide a revoke that went through).
        self.cache.forget(&key);
        let revoked = self
            .as_user(caller)?
            .revoke(target, reason)
            .await
            .map_err(Failure::from);
        self.cache.forget(&key);
        revoked
    }

    /// Tessera's JWT verification keys (GetJwks), asked with the edge's token.
    pub async fn jwks(&self) -> Result<Jwks, Failure> {
        self.service.jwks().await.map_err(Failure::from)
    }

    /// Issues a token derived from `caller`'s.
    pub async fn issue_token(
        &self,
        caller: &Token,
        request: IssueToken,
    ) -> Result<IssuedToken, Failure> {
        self.as_user(caller)?
            .issue_token(request)
            .await
            .map_err(Failure::from)
    }
}
