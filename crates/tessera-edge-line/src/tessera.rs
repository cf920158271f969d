//! The edge's view of Tessera: authenticate a client token, check identifiers against its
//! namespace, and vet the edge's own service token at start.
//!
//! Every call carries the service token as `authorization: Bearer …` and is bounded by the
//! configured timeout; every failure becomes a [`TesseraFailure`] through the one table in
//! [`crate::reply`]. Nothing is cached: each command asks Tessera, so a revocation is seen on the
//! very next command.
//!
//! The one exception is a limited-use token whose last use is spent (by this connection's `AUTH`
//! or another's): Tessera then calls it inactive on every call and never says why, so the
//! connection it opened is judged from what `Introspect` said at AUTH (namespace and expiry, with
//! the namespace rule of `tessera-core`, the server's own) while the revocation feed
//! ([`crate::revocations`]) says whether it has been revoked since.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_core::namespace::{validate_identifier, Namespace};
use tessera_core::token::TokenHash;
use tessera_proto::v1 as pb;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tracing::warn;

use crate::config::Secret;
use crate::reply::TesseraFailure;
use crate::revocations::{RevocationWatch, Watched};

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
        tessera_telemetry::inject(request.metadata_mut());
        Ok(request)
    }
}

/// A Tessera client that calls with the edge's service token.
pub type Client =
    pb::auth_service_client::AuthServiceClient<InterceptedService<Channel, BearerAuth>>;

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

/// What the edge holds for an authenticated connection: the client's secret, and for a
/// limited-use token what `Introspect` said about it at AUTH.
#[derive(Debug, Clone)]
pub struct Grant {
    secret: Secret,
    token_id: String,
    limited: Option<Arc<LimitedUse>>,
}

impl Grant {
    /// The token's public id, for logs.
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    /// Whether the token had a limited number of uses at AUTH.
    pub fn is_limited_use(&self) -> bool {
        self.limited.is_some()
    }
}

/// A limited-use token as it stood at AUTH, to judge its connection once its uses run out.
#[derive(Debug)]
struct LimitedUse {
    namespace: Namespace,
    expires_at: Option<SystemTime>,
    watched: Watched,
}

impl LimitedUse {
    /// The verdict Tessera would give if the token still had uses: inactive once revoked or
    /// expired, else the namespace decision (identifiers validated as Tessera validates them).
    fn judge(
        &self,
        identifiers: &[String],
        feed_live: bool,
        now: SystemTime,
    ) -> Result<Verdict, TesseraFailure> {
        if self.watched.is_revoked() || self.expires_at.is_some_and(|at| at <= now) {
            return Ok(Verdict::Inactive);
        }
        if !feed_live {
            // A revocation could pass unseen: fail closed until the feed is back.
            return Err(TesseraFailure::Unavailable {
                reason: "REVOCATION_FEED_DOWN".into(),
            });
        }
        if identifiers
            .iter()
            .any(|id| validate_identifier(id).is_err())
        {
            return Err(TesseraFailure::InvalidArgument {
                field: Some("identifiers".into()),
            });
        }
        Ok(Verdict::Active(
            identifiers
                .iter()
                .map(|id| self.namespace.allows(id))
                .collect(),
        ))
    }
}

/// A wire timestamp (seconds and nanoseconds since the Unix epoch) as a `SystemTime`.
fn system_time(seconds: i64, nanos: i32) -> SystemTime {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    let nanos = u32::try_from(nanos).unwrap_or(0).min(999_999_999);
    UNIX_EPOCH + Duration::new(seconds, nanos)
}

/// A Tessera client holding the edge's service token.
#[derive(Clone)]
pub struct Authority {
    client: Client,
    feed_client: Client,
    revocations: RevocationWatch,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// A lazily connecting client for `uri`; calls are bounded by `timeout`.
    pub fn new(uri: &str, service_token: &Secret, timeout: Duration) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(uri.to_owned())?
            .connect_timeout(timeout)
            .tcp_nodelay(true);
        let channel = endpoint.clone().timeout(timeout).connect_lazy();
        // The revocation feed is one long stream: no per-call limit, but keepalives so a dead
        // connection is noticed and the feed counted down.
        let feed_channel = endpoint
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(timeout)
            .keep_alive_while_idle(true)
            .connect_lazy();
        let auth = BearerAuth::new(service_token).map_err(anyhow::Error::msg)?;
        Ok(Self {
            client: pb::auth_service_client::AuthServiceClient::with_interceptor(
                channel,
                auth.clone(),
            ),
            feed_client: pb::auth_service_client::AuthServiceClient::with_interceptor(
                feed_channel,
                auth,
            ),
            revocations: RevocationWatch::new(),
        })
    }

    /// Starts following the revocation feed (needed once limited-use tokens run out of uses).
    pub fn follow_revocations(&self) -> tokio::task::JoinHandle<()> {
        self.revocations.spawn(self.feed_client.clone())
    }

    /// The revocation watch this authority consults.
    pub fn revocations(&self) -> &RevocationWatch {
        &self.revocations
    }

    /// Introspects the edge's own token without using it up, and judges it (the same rules as
    /// the HTTP edge).
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
                    "OVER_PRIVILEGED" | "PRIVILEGE_EXCEEDED" | "ELEVATION_REQUIRED" => {
                        ServiceTokenProblem::AdminRights
                    }
                    _ => ServiceTokenProblem::Inactive,
                },
                other => {
                    ServiceTokenProblem::Unreachable(format!("{other:?}: {}", status.message()))
                }
            }),
        }
    }

    /// Authenticates a client: Introspect, counting one use of a limited-use token. An active
    /// token yields the connection's [`Grant`].
    pub async fn authenticate(&self, token: &Secret) -> Result<Option<Grant>, TesseraFailure> {
        // Watched before the use is spent, so no revocation after this AUTH can slip by.
        let mut watched = self
            .revocations
            .watch(TokenHash::of(token.expose()).to_hex());
        let request = pb::IntrospectRequest {
            token: token.expose().to_owned(),
            peek: false,
        };
        let response = match self.client.clone().introspect(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Err(failure("introspect", &status)),
        };
        if !response.active {
            return Ok(None);
        }
        let limited = match (
            response.uses_remaining,
            Namespace::parse(&response.namespace),
        ) {
            (Some(_), Ok(namespace)) => {
                watched.also(response.token_id.clone());
                Some(Arc::new(LimitedUse {
                    namespace,
                    expires_at: response
                        .expires_at
                        .as_ref()
                        .map(|at| system_time(at.seconds, at.nanos)),
                    watched,
                }))
            }
            (Some(_), Err(_)) => {
                warn!(token_id = %response.token_id, "tessera sent an unusable namespace");
                None
            }
            (None, _) => None,
        };
        Ok(Some(Grant {
            secret: token.clone(),
            token_id: response.token_id,
            limited,
        }))
    }

    /// Checks `identifiers` against the connection's token (never uses it up). With no
    /// identifiers it only asks whether the token is still active.
    pub async fn check(
        &self,
        grant: &Grant,
        identifiers: Vec<String>,
    ) -> Result<Verdict, TesseraFailure> {
        let Some(limited) = &grant.limited else {
            return self.ask(&grant.secret, identifiers).await;
        };
        match self.ask(&grant.secret, identifiers.clone()).await? {
            // Inactive may only mean "used up", which does not end a connection already open.
            Verdict::Inactive => {
                limited.judge(&identifiers, self.revocations.is_live(), SystemTime::now())
            }
            verdict => Ok(verdict),
        }
    }

    /// Asks Tessera. CheckNamespace needs at least one identifier, so with none the question
    /// goes to Introspect with `peek`, which counts no use.
    async fn ask(
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

    fn limited(namespace: &str, expires_at: Option<SystemTime>) -> (RevocationWatch, LimitedUse) {
        let watch = RevocationWatch::new();
        let mut watched = watch.watch("hash".into());
        watched.also("id".into());
        let limited = LimitedUse {
            namespace: Namespace::parse(namespace).expect("namespace"),
            expires_at,
            watched,
        };
        (watch, limited)
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_spent_token_is_judged_from_its_snapshot() {
        let now = SystemTime::now();
        let (watch, deploy) = limited("deploy.", Some(now + Duration::from_secs(60)));
        assert_eq!(
            deploy.judge(&ids(&["deploy.a", "backup.a", "deploy"]), true, now),
            Ok(Verdict::Active(vec![true, false, false]))
        );
        assert_eq!(deploy.judge(&[], true, now), Ok(Verdict::Active(vec![])));
        assert_eq!(
            deploy.judge(&ids(&["deploy.a b"]), true, now),
            Err(TesseraFailure::InvalidArgument {
                field: Some("identifiers".into())
            }),
            "identifiers are validated as Tessera would"
        );
        assert_eq!(
            deploy.judge(&ids(&["deploy.a"]), false, now),
            Err(TesseraFailure::Unavailable {
                reason: "REVOCATION_FEED_DOWN".into()
            }),
            "no feed, no decision"
        );
        assert_eq!(
            deploy.judge(&ids(&["deploy.a"]), true, now + Duration::from_secs(60)),
            Ok(Verdict::Inactive),
            "expired"
        );
        assert!(watch.record("other-hash", "id"));
        assert_eq!(
            deploy.judge(&ids(&["deploy.a"]), false, now),
            Ok(Verdict::Inactive),
            "revoked, even with the feed down"
        );

        let (_watch, everything) = limited("*", None);
        assert_eq!(
            everything.judge(&ids(&["backup.a", "x"]), true, now),
            Ok(Verdict::Active(vec![true, true]))
        );
    }

    #[test]
    fn wire_timestamps_convert() {
        assert_eq!(system_time(10, 5), UNIX_EPOCH + Duration::new(10, 5));
        assert_eq!(system_time(-1, -1), UNIX_EPOCH);
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
