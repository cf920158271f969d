//! The edge's view of Tessera: one lazily connecting gRPC channel, and the calls the edge makes.
//!
//! Introspect and CheckNamespace are asked with the edge's own service token as the caller and the
//! user's token in the request body. Login needs no caller; Unlock, Revoke and IssueToken act *as
//! the user*, so they carry the user's token as the caller. Every call is bounded by the
//! configured timeout. Nothing is cached: a revocation is seen on the very next request.

use std::time::Duration;

use tessera_proto::v1 as pb;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::answer::TesseraError;
use crate::config::Secret;
use crate::credentials::Token;

type Client = pb::auth_service_client::AuthServiceClient<Channel>;

/// Why the edge refuses to start with its service token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceTokenProblem {
    /// Tessera says the token is not active, or refuses it as a caller.
    #[error("the service token is not active (bad, expired or revoked)")]
    Inactive,
    /// The token cannot call Introspect.
    #[error("the service token lacks the `introspect` permission")]
    LacksIntrospect,
    /// The token could do far more than an edge needs.
    #[error("the service token holds admin rights; issue a service token with only `introspect`")]
    AdminRights,
    /// Tessera could not be asked.
    #[error("cannot check the service token with tessera: {0}")]
    Unreachable(String),
}

impl ServiceTokenProblem {
    /// Whether waiting could help (Tessera may still be starting).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

const ADMIN_ROLES: [&str; 4] = ["admin", "owner", "superuser", "root"];

/// Judges an Introspect answer about the edge's own token. Admin rights (the server's contract) =
/// permits `admin` or `*`, and an admin-class role or an elevated token.
pub fn judge_service_token(me: &pb::IntrospectResponse) -> Result<(), ServiceTokenProblem> {
    if !me.active {
        return Err(ServiceTokenProblem::Inactive);
    }
    let permits = |p: &str| me.permissions.iter().any(|held| held == p || held == "*");
    if !permits("introspect") {
        return Err(ServiceTokenProblem::LacksIntrospect);
    }
    let admin_role = me
        .roles
        .iter()
        .any(|role| ADMIN_ROLES.iter().any(|a| role.eq_ignore_ascii_case(a)));
    if permits("admin") && (admin_role || me.elevated) {
        return Err(ServiceTokenProblem::AdminRights);
    }
    Ok(())
}

/// A Tessera client holding the edge's service token.
#[derive(Clone)]
pub struct Authority {
    client: Client,
    service_bearer: MetadataValue<Ascii>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn bearer(token: &str) -> Option<MetadataValue<Ascii>> {
    let mut value: MetadataValue<Ascii> = format!("Bearer {token}").parse().ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn request_as<T>(message: T, caller: &MetadataValue<Ascii>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", caller.clone());
    tessera_telemetry::inject(request.metadata_mut());
    request
}

/// A user token that cannot even be a header is simply not active.
fn user_bearer(token: &Token) -> Result<MetadataValue<Ascii>, TesseraError> {
    bearer(token.expose()).ok_or_else(|| {
        TesseraError::from_status(&tonic::Status::unauthenticated(
            "token is not a header value",
        ))
    })
}

impl Authority {
    /// A lazily connecting client for `uri`; calls are bounded by `timeout`.
    pub fn new(uri: &str, service_token: &Secret, timeout: Duration) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(uri.to_owned())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        let service_bearer = bearer(service_token.expose())
            .ok_or_else(|| anyhow::anyhow!("the service token cannot be a header value"))?;
        Ok(Self {
            client: Client::new(channel),
            service_bearer,
        })
    }

    /// Introspects the edge's own token without using it up, and judges it.
    pub async fn vet_service_token(&self, token: &Secret) -> Result<(), ServiceTokenProblem> {
        let request = pb::IntrospectRequest {
            token: token.expose().to_owned(),
            peek: true,
        };
        match self
            .client
            .clone()
            .introspect(request_as(request, &self.service_bearer))
            .await
        {
            Ok(response) => judge_service_token(&response.into_inner()),
            Err(status) => {
                use crate::answer::Reason::*;
                Err(match TesseraError::from_status(&status).reason {
                    AuthRequired | AuthFailed => ServiceTokenProblem::Inactive,
                    AuthDenied => ServiceTokenProblem::LacksIntrospect,
                    OverPrivileged | PrivilegeExceeded | ElevationRequired => {
                        ServiceTokenProblem::AdminRights
                    }
                    _ => ServiceTokenProblem::Unreachable(format!(
                        "{:?}: {}",
                        status.code(),
                        status.message()
                    )),
                })
            }
        }
    }

    /// Introspects a user's token; counts one use unless `peek`.
    pub async fn introspect(
        &self,
        token: &Token,
        peek: bool,
    ) -> Result<pb::IntrospectResponse, TesseraError> {
        let request = pb::IntrospectRequest {
            token: token.expose().to_owned(),
            peek,
        };
        self.client
            .clone()
            .introspect(request_as(request, &self.service_bearer))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| TesseraError::from_status(&status))
    }

    /// Asks whether `token` may touch `identifier` (and holds `action`, when set).
    pub async fn check_namespace(
        &self,
        token: &Token,
        identifier: &str,
        action: &str,
    ) -> Result<pb::CheckNamespaceResponse, TesseraError> {
        let request = pb::CheckNamespaceRequest {
            token: token.expose().to_owned(),
            identifiers: vec![identifier.to_owned()],
            action: action.to_owned(),
        };
        self.client
            .clone()
            .check_namespace(request_as(request, &self.service_bearer))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| TesseraError::from_status(&status))
    }

    /// Opens a session.
    pub async fn login(
        &self,
        request: pb::LoginRequest,
    ) -> Result<pb::LoginResponse, TesseraError> {
        self.client
            .clone()
            .login(tonic::Request::new(request))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| TesseraError::from_status(&status))
    }

    /// Elevates the session `session`.
    pub async fn unlock(
        &self,
        session: &Token,
        request: pb::UnlockRequest,
    ) -> Result<pb::UnlockResponse, TesseraError> {
        let caller = user_bearer(session)?;
        self.client
            .clone()
            .unlock(request_as(request, &caller))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| TesseraError::from_status(&status))
    }

    /// Revokes `token` (and everything derived from it), acting as its holder.
    pub async fn revoke_own(&self, token: &Token, reason: &str) -> Result<u64, TesseraError> {
        let caller = user_bearer(token)?;
        let request = pb::RevokeRequest {
            target: Some(pb::revoke_request::Target::Token(token.expose().to_owned())),
            reason: reason.to_owned(),
        };
        self.client
            .clone()
            .revoke(request_as(request, &caller))
            .await
            .map(|r| r.into_inner().revoked_count)
            .map_err(|status| TesseraError::from_status(&status))
    }

    /// Issues a token derived from `caller`'s.
    pub async fn issue_token(
        &self,
        caller: &Token,
        request: pb::IssueTokenRequest,
    ) -> Result<pb::IssueTokenResponse, TesseraError> {
        let caller = user_bearer(caller)?;
        self.client
            .clone()
            .issue_token(request_as(request, &caller))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| TesseraError::from_status(&status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(permissions: &[&str], roles: &[&str], elevated: bool) -> pb::IntrospectResponse {
        pb::IntrospectResponse {
            active: true,
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            elevated,
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_introspect_token_is_fine() {
        assert_eq!(
            judge_service_token(&me(&["introspect"], &[], false)),
            Ok(())
        );
        // `*` for a user-role token is not admin rights: the role cannot act as admin.
        assert_eq!(judge_service_token(&me(&["*"], &["user"], false)), Ok(()));
    }

    #[test]
    fn inactive_or_without_introspect_is_refused() {
        let inactive = pb::IntrospectResponse::default();
        assert_eq!(
            judge_service_token(&inactive),
            Err(ServiceTokenProblem::Inactive)
        );
        assert_eq!(
            judge_service_token(&me(&["issue"], &[], false)),
            Err(ServiceTokenProblem::LacksIntrospect)
        );
    }

    #[test]
    fn admin_rights_are_refused() {
        for (permissions, roles, elevated) in [
            (&["*"][..], &["admin"][..], false),
            (&["introspect", "admin"][..], &["Owner"][..], false),
            (&["*"][..], &["user"][..], true),
            (&["*"][..], &["root"][..], false),
        ] {
            assert_eq!(
                judge_service_token(&me(permissions, roles, elevated)),
                Err(ServiceTokenProblem::AdminRights),
                "{permissions:?} {roles:?} {elevated}"
            );
        }
    }
}
