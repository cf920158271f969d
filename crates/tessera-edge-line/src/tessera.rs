//! The edge's view of Tessera, on `tessera-client`: authenticate a client token, check
//! identifiers against its namespace, and vet the edge's own service token at start.
//!
//! Every call carries the service token and is bounded by the configured timeout (the client's
//! deadline, retries of calls safe to repeat included); every failure becomes a
//! [`TesseraFailure`] through the one table in [`crate::reply`]. Nothing is cached: each command
//! asks Tessera, so a revocation is seen on the very next command.
//!
//! The one exception is a limited-use token whose last use is spent (by this connection's `AUTH`
//! or another's): Tessera then calls it inactive on every call and never says why, so the
//! connection it opened is judged from what `Introspect` said at AUTH (namespace and expiry, with
//! the server's own decision from `tessera-rules`) while the revocation feed
//! ([`crate::revocations`]) says whether it has been revoked since.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_client::Client;
use tessera_rules::decision::Question;
use tessera_rules::namespace::Namespace;
use tessera_rules::permission::PermissionSet;
use tessera_rules::token::TokenHash;
use tracing::warn;

use crate::config::Secret;
use crate::reply::TesseraFailure;
use crate::revocations::{RevocationWatch, Watched};

pub use tessera_client::{judge_service_token, ServiceTokenProblem};

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

/// What the edge holds for an authenticated connection: the client's secret, and for a
/// limited-use token what `Introspect` said about it at AUTH.
#[derive(Debug, Clone)]
pub struct ConnectionGrant {
    secret: Secret,
    token_id: String,
    limited: Option<Arc<LimitedUse>>,
}

impl ConnectionGrant {
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
        local_verdict(&self.namespace, identifiers)
    }
}

/// The verdict for an active token whose namespace Introspect reported, decided here with
/// Tessera's own decision ([`tessera_rules::decision`], for the namespace alone: the line protocol
/// asks no action). Identifiers Tessera would refuse are refused the same way.
pub fn local_verdict(
    namespace: &Namespace,
    identifiers: &[String],
) -> Result<Verdict, TesseraFailure> {
    if identifiers.is_empty() {
        return Ok(Verdict::Active(Vec::new()));
    }
    let question =
        Question::new(identifiers, "").map_err(|malformed| TesseraFailure::InvalidArgument {
            field: Some(malformed.field().to_owned()),
        })?;
    Ok(Verdict::Active(
        question.decide(namespace, &PermissionSet::default()).inside,
    ))
}

/// An answer's time as a `SystemTime` (before the epoch reads as the epoch).
fn system_time(at: time::OffsetDateTime) -> SystemTime {
    let nanos = u64::try_from(at.unix_timestamp_nanos()).unwrap_or(0);
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// A Tessera client holding the edge's service token.
#[derive(Clone)]
pub struct LineAuthority {
    client: Client,
    revocations: RevocationWatch,
}

impl std::fmt::Debug for LineAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineAuthority").finish_non_exhaustive()
    }
}

impl LineAuthority {
    /// The authority calling with `client`, which holds the edge's service token.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            revocations: RevocationWatch::new(),
        }
    }

    /// Starts following the revocation feed (needed once limited-use tokens run out of uses).
    pub fn follow_revocations(&self) -> tokio::task::JoinHandle<()> {
        self.revocations.spawn(self.client.clone())
    }

    /// The revocation watch this authority consults.
    pub fn revocations(&self) -> &RevocationWatch {
        &self.revocations
    }

    /// Introspects the edge's own token without using it up, and judges it (the same rules as
    /// the HTTP edge: one judgement, in `tessera-client`).
    pub async fn vet_service_token(&self, token: &Secret) -> Result<(), ServiceTokenProblem> {
        use tessera_client::Reason::*;
        match self.client.peek(token.expose()).await {
            Ok(me) => judge_service_token(&me),
            Err(error) => Err(match error.reason() {
                AuthDenied => ServiceTokenProblem::LacksIntrospect,
                OverPrivileged | PrivilegeExceeded | ElevationRequired => {
                    ServiceTokenProblem::AdminRights
                }
                AuthRequired | AuthFailed => ServiceTokenProblem::Inactive,
                // What a failing connection needs (a client certificate, https://, the CA).
                _ => ServiceTokenProblem::Unreachable(
                    self.client
                        .explain_failure(&error, &tessera_client::TlsFlags::SERVICE)
                        .await,
                ),
            }),
        }
    }

    /// Authenticates a client: Introspect, counting one use of a limited-use token. An active
    /// token yields the connection's [`ConnectionGrant`].
    pub async fn authenticate(
        &self,
        token: &Secret,
    ) -> Result<Option<ConnectionGrant>, TesseraFailure> {
        // Watched before the use is spent, so no revocation after this AUTH can slip by.
        let mut watched = self
            .revocations
            .watch(TokenHash::of(token.expose()).to_hex());
        let response = match self.client.introspect(token.expose()).await {
            Ok(response) => response,
            Err(error) => return Err(failure("introspect", &error)),
        };
        if !response.active {
            return Ok(None);
        }
        let limited = match (
            response.uses_remaining,
            Namespace::from_stored(&response.namespace),
        ) {
            (Some(_), Ok(namespace)) => {
                watched.also(response.token_id.clone());
                Some(Arc::new(LimitedUse {
                    namespace,
                    expires_at: response.expires_at.map(system_time),
                    watched,
                }))
            }
            (Some(_), Err(_)) => {
                warn!(token_id = %response.token_id, "tessera sent an unusable namespace");
                None
            }
            (None, _) => None,
        };
        Ok(Some(ConnectionGrant {
            secret: token.clone(),
            token_id: response.token_id,
            limited,
        }))
    }

    /// Checks `identifiers` against the connection's token (never uses it up). With no
    /// identifiers it only asks whether the token is still active.
    pub async fn check(
        &self,
        grant: &ConnectionGrant,
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
            return match self.client.peek(token.expose()).await {
                Ok(response) if response.active => Ok(Verdict::Active(Vec::new())),
                Ok(_) => Ok(Verdict::Inactive),
                Err(error) => Err(failure("introspect", &error)),
            };
        }
        let asked = identifiers.len();
        let response = match self
            .client
            .check_namespace(token.expose(), identifiers, "")
            .await
        {
            Ok(response) => response,
            Err(error) => return Err(failure("check_namespace", &error)),
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

fn failure(call: &'static str, error: &tessera_client::Error) -> TesseraFailure {
    let failure = TesseraFailure::from_client(error);
    match &failure {
        TesseraFailure::ServiceTokenRejected { reason } => {
            tracing::error!(call, reason, "tessera rejected the edge's service token")
        }
        TesseraFailure::Unavailable { reason } => {
            warn!(
                call,
                reason,
                message = error.message(),
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
    fn answer_times_convert() {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(10_000_000_005).unwrap();
        assert_eq!(system_time(at), UNIX_EPOCH + Duration::new(10, 5));
        let before = time::OffsetDateTime::from_unix_timestamp(-1).unwrap();
        assert_eq!(system_time(before), UNIX_EPOCH);
    }

    #[test]
    fn verdicts() {
        assert!(Verdict::Active(vec![]).all_allowed());
        assert!(Verdict::Active(vec![true, true]).all_allowed());
        assert!(!Verdict::Active(vec![true, false]).all_allowed());
        assert!(!Verdict::Inactive.all_allowed());
    }
}
