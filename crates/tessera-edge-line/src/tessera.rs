//! The edge's view of Tessera: authenticate a client token, check identifiers against its
//! namespace, and vet the edge's own service token at start.
//!
//! Every call carries the service token as `authorization: Bearer …` and is bounded by the
//! configured timeout; every failure becomes a [`TesseraFailure`] through the one table in
//! [`crate::reply`]. Nothing is cached: each command asks Tessera, so a revocation is seen on the
//! very next command.

use std::time::Duration;

use tessera_proto::v1 as pb;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tracing::warn;

use crate::config::Secret;
use crate::reply::TesseraFailure;

/// Adds the service token to every call.
#[derive(Clone)]
pub struct BearerAuth(MetadataValue<tonic::metadata::Ascii>);

impl BearerAuth {
    /// The interceptor for `token`; fails when the token cannot be a header value.
    pub fn new(token: &Secret) -> Result<Self, String> {
        let mut value: MetadataValue<tonic::metadata::Ascii> = format!("Bearer {}", token.expose())
            .parse()
            .map_err(|_| "the service token has characters a header cannot carry".to_owned())?;
        value.set_sensitive(true);
        Ok(Self(value))
    }
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Client = pb::auth_service_client::AuthServiceClient<InterceptedService<Channel, BearerAuth>>;

/// The verdict on a token and some identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The token is not active (bad, expired, revoked, used up).
    Inactive,
    /// The token is active; one decision per identifier, in request order.
    Active(Vec<bool>),
}

impl Verdict {
    /// Whether the token is active and every identifier is allowed.
    pub fn all_allowed(&self) -> bool {
        matches!(self, Self::Active(decisions) if decisions.iter().all(|&d| d))
    }
}

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

const ADMIN_ROLES: [&str; 4] = ["admin", "owner", "superuser", "root"];

/// Judges an Introspect answer about the edge's own token (the rule is the server's contract:
/// admin rights = permits `admin` or `*`, and an admin-class role or an elevated token).
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
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// A lazily connecting client for `uri`; calls are bounded by `timeout`.
    pub fn new(uri: &str, service_token: &Secret, timeout: Duration) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(uri.to_owned())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        let auth = BearerAuth::new(service_token).map_err(anyhow::Error::msg)?;
        Ok(Self {
            client: pb::auth_service_client::AuthServiceClient::with_interceptor(channel, auth),
        })
    }

    /// Introspects the edge's own token without using it up, and judges it.
    pub async fn vet_service_token(&self, token: &Secret) -> Result<(), ServiceTokenProblem> {
        let request = pb::IntrospectRequest {
            token: token.expose().to_owned(),
            peek: true,
        };
        match self.client.clone().introspect(request).await {
            Ok(response) => judge_service_token(&response.into_inner()),
            Err(status) => Err(match TesseraFailure::from_status(&status) {
                TesseraFailure::ServiceTokenRejected { reason } => match reason.as_str() {
                    "AUTH_DENIED" | "PermissionDenied" => ServiceTokenProblem::LacksIntrospect,
                    "OVER_PRIVILEGED" => ServiceTokenProblem::AdminRights,
                    _ => ServiceTokenProblem::Inactive,
                },
                other => {
                    ServiceTokenProblem::Unreachable(format!("{other:?}: {}", status.message()))
                }
            }),
        }
    }

    /// Authenticates a client: Introspect, counting one use of a limited-use token. An active
    /// token yields its public id (for logs).
    pub async fn authenticate(&self, token: &Secret) -> Result<Option<String>, TesseraFailure> {
        let request = pb::IntrospectRequest {
            token: token.expose().to_owned(),
            peek: false,
        };
        match self.client.clone().introspect(request).await {
            Ok(response) => {
                let response = response.into_inner();
                Ok(response.active.then_some(response.token_id))
            }
            Err(status) => Err(failure("introspect", &status)),
        }
    }

    /// Checks `identifiers` against the token's namespace (never uses the token up). With no
    /// identifiers it only asks whether the token is still active: CheckNamespace needs at least
    /// one identifier, so that question goes to Introspect with `peek`, which counts no use.
    pub async fn check(
        &self,
        token: &Secret,
        identifiers: Vec<String>,
    ) -> Result<Verdict, TesseraFailure> {
        if identifiers.is_empty() {
            let request = pb::IntrospectRequest {
                token: token.expose().to_owned(),
                peek: true,
            };
            return match self.client.clone().introspect(request).await {
                Ok(response) if response.get_ref().active => Ok(Verdict::Active(Vec::new())),
                Ok(_) => Ok(Verdict::Inactive),
                Err(status) => Err(failure("introspect", &status)),
            };
        }
        let asked = identifiers.len();
        let request = pb::CheckNamespaceRequest {
            token: token.expose().to_owned(),
            identifiers,
            action: String::new(),
        };
        let response = match self.client.clone().check_namespace(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Err(failure("check_namespace", &status)),
        };
        if !response.active {
            return Ok(Verdict::Inactive);
        }
        if response.results.len() != asked {
            warn!(
                asked,
                answered = response.results.len(),
                "check_namespace answered the wrong number of identifiers"
            );
            return Err(TesseraFailure::Unavailable {
                reason: "MALFORMED_RESPONSE".into(),
            });
        }
        Ok(Verdict::Active(
            response.results.iter().map(|r| r.allowed).collect(),
        ))
    }
}

fn failure(call: &'static str, status: &tonic::Status) -> TesseraFailure {
    let failure = TesseraFailure::from_status(status);
    match &failure {
        TesseraFailure::ServiceTokenRejected { reason } => {
            tracing::error!(call, reason, "tessera rejected the edge's service token")
        }
        TesseraFailure::Unavailable { reason } => {
            warn!(
                call,
                reason,
                message = status.message(),
                "tessera unavailable"
            )
        }
        TesseraFailure::InvalidArgument { field } => {
            tracing::debug!(call, field, "tessera refused the request")
        }
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(permissions: &[&str], roles: &[&str], elevated: bool) -> pb::IntrospectResponse {
        pb::IntrospectResponse {
            active: true,
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            elevated,
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_service_token_passes() {
        assert_eq!(
            judge_service_token(&me(&["introspect"], &[], false)),
            Ok(())
        );
        assert_eq!(
            judge_service_token(&me(&["introspect", "admin"], &["user"], false)),
            Ok(())
        );
        assert_eq!(judge_service_token(&me(&["*"], &["user"], false)), Ok(()));
    }

    #[test]
    fn inactive_or_powerless_tokens_are_refused() {
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
        for role in ["admin", "Owner", "superuser", "root"] {
            assert_eq!(
                judge_service_token(&me(&["*"], &[role], false)),
                Err(ServiceTokenProblem::AdminRights),
                "{role}"
            );
        }
        assert_eq!(
            judge_service_token(&me(&["introspect", "admin"], &["user"], true)),
            Err(ServiceTokenProblem::AdminRights)
        );
        assert_eq!(
            judge_service_token(&me(&["*"], &[], true)),
            Err(ServiceTokenProblem::AdminRights)
        );
    }

    #[test]
    fn verdicts() {
        assert!(Verdict::Active(vec![]).all_allowed());
        assert!(Verdict::Active(vec![true, true]).all_allowed());
        assert!(!Verdict::Active(vec![true, false]).all_allowed());
        assert!(!Verdict::Inactive.all_allowed());
    }

    #[test]
    fn the_bearer_header_is_sensitive() {
        let auth = BearerAuth::new(&Secret::new("tsr_svc_x".into())).expect("header");
        assert!(auth.0.is_sensitive());
        assert!(BearerAuth::new(&Secret::new("bad\nvalue".into())).is_err());
    }
}
