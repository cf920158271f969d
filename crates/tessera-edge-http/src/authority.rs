//! The edge's view of Tessera, on `tessera-client`: the calls the edge makes and the one place
//! their failures become the edge's [`TesseraError`].
//!
//! Introspect and CheckNamespace are asked with the edge's own service token as the caller and the
//! user's token in the request body. Login needs no caller; Unlock, Revoke and IssueToken act *as
//! the user*, so they carry the user's token as the caller. Connections, TLS, deadlines, retries
//! (only of calls safe to repeat) and fail-over between replicas are the client's. Nothing is
//! cached: a revocation is seen on the very next request.

use tessera_client::{
    Client, Introspection, IssueToken, IssuedToken, Login, NamespaceDecision, RevokeTarget, Secret,
    Session, Unlock,
};

use crate::answer::TesseraError;
use crate::credentials::Token;

pub use tessera_client::{judge_service_token, ServiceTokenProblem};

/// A Tessera client holding the edge's service token.
#[derive(Debug, Clone)]
pub struct Authority {
    service: Client,
}

impl Authority {
    /// The authority calling with `service`, a client that holds the edge's service token.
    pub fn new(service: Client) -> Self {
        Self { service }
    }

    /// The same connections, calling as the user holding `token`. A token that cannot even be a
    /// header is simply not active.
    fn as_user(&self, token: &Token) -> Result<Client, TesseraError> {
        self.service
            .with_token(token.expose())
            .map_err(|_| TesseraError::from_status(&tonic::Status::unauthenticated("token")))
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
                _ => ServiceTokenProblem::Unreachable(error.to_string()),
            }),
        }
    }

    /// Introspects a user's token; counts one use unless `peek`.
    pub async fn introspect(
        &self,
        token: &Token,
        peek: bool,
    ) -> Result<Introspection, TesseraError> {
        let answer = if peek {
            self.service.peek(token.expose()).await
        } else {
            self.service.introspect(token.expose()).await
        };
        answer.map_err(|e| TesseraError::from_client(&e))
    }

    /// Asks whether `token` may touch `identifier` (and holds `action`, when set).
    pub async fn check_namespace(
        &self,
        token: &Token,
        identifier: &str,
        action: &str,
    ) -> Result<NamespaceDecision, TesseraError> {
        self.service
            .check_namespace(token.expose(), [identifier], action)
            .await
            .map_err(|e| TesseraError::from_client(&e))
    }

    /// Opens a session.
    pub async fn login(&self, login: Login) -> Result<Session, TesseraError> {
        self.service
            .without_token()
            .login(login)
            .await
            .map_err(|e| TesseraError::from_client(&e))
    }

    /// Elevates the session `session`.
    pub async fn unlock(
        &self,
        session: &Token,
        unlock: Unlock,
    ) -> Result<IssuedToken, TesseraError> {
        self.as_user(session)?
            .unlock(unlock)
            .await
            .map_err(|e| TesseraError::from_client(&e))
    }

    /// Revokes `token` (and everything derived from it), acting as its holder.
    pub async fn revoke_own(&self, token: &Token, reason: &str) -> Result<u64, TesseraError> {
        let target = RevokeTarget::Token(Secret::new(token.expose().to_owned()));
        self.as_user(token)?
            .revoke(target, reason)
            .await
            .map_err(|e| TesseraError::from_client(&e))
    }

    /// Issues a token derived from `caller`'s.
    pub async fn issue_token(
        &self,
        caller: &Token,
        request: IssueToken,
    ) -> Result<IssuedToken, TesseraError> {
        self.as_user(caller)?
            .issue_token(request)
            .await
            .map_err(|e| TesseraError::from_client(&e))
    }
}
