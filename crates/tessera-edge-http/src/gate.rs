//! The admission decision every proxied or verified request goes through.
//!
//! 1. The path must be unambiguous (see [`crate::routes`]); a public route passes with no token
//!    (and its credentials, even malformed ones, are not looked at).
//!    A request carrying an identity header spelled with `_` is refused on every other route (400):
//!    the front proxy cannot replace that spelling, and the upstream would merge it with the real
//!    one.
//! 2. A credential is picked in the fixed order (see [`crate::credentials`]); a malformed one is
//!    400, none is 401.
//! 3. A cookie-authenticated state change must be same-origin (403 otherwise), checked before
//!    Tessera is asked.
//! 4. When a namespace rule matches, the namespace is checked first (a check never consumes a
//!    use, so a single-use token refused for scope is not spent): inactive is 401, denied is 403.
//!    A token whose answer is in the decision cache is judged here with Tessera's own decision
//!    (`tessera_rules::decision`); any other asks CheckNamespace.
//! 5. Introspect with `peek: false` consumes one use and says who the token acts for; inactive is
//!    401. A stale elevated cookie falls back to the session cookie beside it. An unlimited-use
//!    token's answer may come from the decision cache instead (see [`crate::decision_cache`]).
//!
//! Tessera failures go through the one table in [`crate::answer`]; unreachable is 503.

use std::time::Instant;

use http::{HeaderMap, Method, Uri};
use tracing::Instrument as _;

use tessera_client::Introspection;

use crate::answer::{Answer, CalledAs};
use crate::authority::HttpAuthority;
use crate::cookie::strip_edge_cookies;
use crate::credentials::{CredentialError, Presented, Source, Token};
use crate::identity::Identity;
use crate::origin::{changes_state, check_same_origin, own_origin};
use crate::policy::Policy;
use crate::routes::{decoded_segments, NamespaceCheck, NamespaceRules, PublicRoutes};

/// The routes and the authority a request is judged by.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Tessera.
    pub authority: HttpAuthority,
    /// Paths needing no token.
    pub public: PublicRoutes,
    /// Paths with an identifier to check.
    pub rules: NamespaceRules,
    /// Request and Tessera-call series.
    pub metrics: crate::metrics::EdgeMetrics,
}

/// The request as the gate sees it; for forward-auth, the original request the proxy describes.
#[derive(Debug)]
pub struct Subject<'a> {
    /// Method of the request being decided.
    pub method: &'a Method,
    /// Raw path of the request being decided; `None` when a forward-auth caller did not say.
    pub path: Option<&'a str>,
    /// Headers carrying Origin / Sec-Fetch-Site.
    pub headers: &'a HeaderMap,
    /// URI of the request that reached the edge (its authority serves HTTP/2 origin checks).
    pub uri: &'a Uri,
    /// The credentials presented, or why they cannot be read (which matters only off public
    /// routes: a public route ignores credentials entirely).
    pub presented: &'a Result<Presented, CredentialError>,
    /// The client sent an identity header spelled with `_` (already stripped).
    pub forged_identity: bool,
    /// Policy the caller keeps beside its own routes (Envoy's per-route `context_extensions`),
    /// applied before the edge's own routes and rules.
    pub route: Option<&'a RoutePolicy>,
}

/// Route policy a mesh keeps beside its routes rather than in the edge's flags: the route is
/// public, or its paths carry namespace rules of their own. Both are read before the edge's own
/// `--public-route` and `--namespace-rule` (a route's rules are tried first; the edge's still
/// apply when none of them matches).
#[derive(Debug, Clone, Default)]
pub struct RoutePolicy {
    /// Every path of the route passes without a token.
    pub public: bool,
    /// Namespace rules of the route.
    pub rules: NamespaceRules,
}

/// The gate's verdict.
#[derive(Debug)]
pub enum Admission {
    /// A public route: no token needed, no identity given.
    Public,
    /// A good token.
    Admitted(Admitted),
}

/// An admitted request.
#[derive(Debug)]
pub struct Admitted {
    /// Who the request acts for.
    pub identity: Identity,
    /// Where the accepted token came from.
    pub source: Source,
    /// The token itself (for removing it before forwarding).
    pub token: Token,
    /// The elevated cookie was presented but is no longer active; the response should clear it.
    pub stale_elevated: bool,
}

impl Gate {
    /// Decides one request.
    pub async fn admit(&self, policy: &Policy, subject: &Subject<'_>) -> Result<Admission, Answer> {
        let check = match subject.path {
            Some(path) => {
                let segments =
                    decoded_segments(path).map_err(|e| Answer::bad_request(e.to_string()))?;
                if subject.route.is_some_and(|route| route.public) || self.public.matches(path) {
                    return Ok(Admission::Public);
                }
                let route_check = match subject.route {
                    Some(route) => route.rules.check(subject.method, &segments),
                    None => Ok(None),
                };
                route_check
                    .transpose()
                    .or_else(|| self.rules.check(subject.method, &segments).transpose())
                    .transpose()
                    .map_err(|e| Answer::bad_request(e.to_string()))?
            }
            None => None,
        };
        if subject.forged_identity {
            return Err(Answer::bad_request(
                "x-tessera-* headers are set by the edge; a client may not send them",
            ));
        }
        let presented = subject
            .presented
            .as_ref()
            .map_err(|e| Answer::invalid_request(e.to_string()))?;
        let candidates = presented.candidates();
        let Some((_, first_source)) = candidates.first() else {
            return Err(Answer::invalid_token(crate::answer::NO_TOKEN));
        };
        if first_source.is_ambient() && changes_state(subject.method) {
            let own = own_origin(policy, subject.headers, subject.uri);
            check_same_origin(policy, subject.headers, own.as_ref())
                .map_err(|_| Answer::cross_origin())?;
        }
        let mut stale_elevated = false;
        for (token, source) in candidates {
            match self.admit_token(&token, check.as_ref()).await? {
                Some(identity) => {
                    return Ok(Admission::Admitted(Admitted {
                        identity,
                        source,
                        token,
                        stale_elevated,
                    }))
                }
                None if source == Source::ElevatedCookie => stale_elevated = true,
                None => break,
            }
        }
        Err(Answer::invalid_token("the token is not active"))
    }

    /// `Some(identity)` for a good token, `None` for an inactive one.
    async fn admit_token(
        &self,
        token: &Token,
        check: Option<&NamespaceCheck>,
    ) -> Result<Option<Identity>, Answer> {
        let cached = self.authority.cached(token);
        if let Some(check) = check {
            // A cached answer holds the token's namespace and permissions, which never change
            // after issue: the check is decided here by Tessera's own rules, without a call.
            let local = cached
                .as_ref()
                .ok()
                .and_then(|answer| namespace_verdict(answer, &check.identifier, &check.action));
            let allowed = match local {
                Some(allowed) => allowed,
                None => {
                    let started = Instant::now();
                    let verdict = self
                        .authority
                        .check_namespace(token, &check.identifier, &check.action)
                        .instrument(tessera_call_span("CheckNamespace"))
                        .await;
                    self.metrics
                        .tessera_call("CheckNamespace", started.elapsed());
                    let verdict = verdict.map_err(|e| Answer::for_tessera(&e, CalledAs::Edge))?;
                    if !verdict.active {
                        return Ok(None);
                    }
                    verdict.allowed
                }
            };
            if !allowed {
                return Err(Answer::insufficient_scope("insufficient namespace scope"));
            }
        }
        let miss = match cached {
            Ok(answer) => return Ok(Some(Identity::from_introspection(&answer))),
            Err(miss) => miss,
        };
        let started = Instant::now();
        let response = self
            .authority
            .introspect_missed(miss, token, false)
            .instrument(tessera_call_span("Introspect"))
            .await;
        self.metrics.tessera_call("Introspect", started.elapsed());
        let response = response.map_err(|e| Answer::for_tessera(&e, CalledAs::Edge))?;
        Ok(response
            .active
            .then(|| Identity::from_introspection(&response)))
    }
}

/// Rewrites the credential headers of a request the gate let through into what its upstream
/// gets: the one rule of the reverse proxy and of Envoy's Check. The edge's cookies go, the bearer
/// goes on every route, public or not, and whether or not it admitted the request (it is a
/// credential for Tessera, not for the upstream; `--forward-authorization` keeps it), and the
/// identity of an admitted request is written. Client copies of the identity headers were already
/// removed, before the gate was asked.
pub fn upstream_headers(policy: &Policy, headers: &mut HeaderMap, identity: Option<&Identity>) {
    strip_edge_cookies(headers);
    if !policy.forward_authorization {
        headers.remove(http::header::AUTHORIZATION);
    }
    if let Some(identity) = identity {
        identity.write_headers(headers);
    }
}

/// CheckNamespace's answer for one identifier, decided from an active token's cached Introspect
/// answer with the one decision Tessera's own CheckNamespace makes
/// ([`tessera_rules::decision`]). `None` when Tessera must be asked instead: a question it would
/// refuse as malformed (it names the problem), an inactive answer, or one that does not read
/// back.
pub fn namespace_verdict(answer: &Introspection, identifier: &str, action: &str) -> Option<bool> {
    use tessera_rules::{decision::Question, namespace::Namespace, permission::PermissionSet};
    if !answer.active {
        return None;
    }
    let identifiers = [identifier];
    let question = Question::new(&identifiers, action).ok()?;
    let namespace = Namespace::from_stored(&answer.namespace).ok()?;
    // The permissions are read only when an action is asked about (the hot path of a rule
    // without one allocates no set).
    let permissions = match action {
        "" => PermissionSet::default(),
        _ => PermissionSet::parse(&answer.permissions).ok()?,
    };
    Some(question.decide(&namespace, &permissions).admits())
}

/// The client span of one call to Tessera; its context travels in the call's `traceparent`, so
/// Tessera's spans hang under it.
pub(crate) fn tessera_call_span(rpc: &'static str) -> tracing::Span {
    tracing::info_span!(
        "tessera.call",
        otel.name = %format_args!("tessera.v1.AuthService/{rpc}"),
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = "tessera.v1.AuthService",
        rpc.method = rpc,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(namespace: &str, permissions: &[&str]) -> Introspection {
        Introspection {
            active: true,
            namespace: namespace.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..Introspection::default()
        }
    }

    #[test]
    fn a_namespace_check_is_decided_as_tessera_decides_it() {
        let deploy = answer("deploy.", &["read"]);
        assert_eq!(namespace_verdict(&deploy, "deploy.a", ""), Some(true));
        assert_eq!(namespace_verdict(&deploy, "deploy.a", "read"), Some(true));
        assert_eq!(namespace_verdict(&deploy, "deploy.a", "write"), Some(false));
        assert_eq!(namespace_verdict(&deploy, "deploy", ""), Some(false));
        assert_eq!(namespace_verdict(&deploy, "backup.a", "read"), Some(false));
        // A path that stops before a rule's identifier is checked as `*`: only `*` allows it.
        assert_eq!(namespace_verdict(&deploy, "*", ""), Some(false));
        assert_eq!(
            namespace_verdict(&answer("*", &["read"]), "*", ""),
            Some(true)
        );
        let everything_but_write = answer("*", &["*", "-write"]);
        assert_eq!(
            namespace_verdict(&everything_but_write, "any.thing", "read"),
            Some(true)
        );
        assert_eq!(
            namespace_verdict(&everything_but_write, "any.thing", "write"),
            Some(false)
        );
        for dodge in [" write", "write ", "write\u{a0}", "*"] {
            assert_ne!(
                namespace_verdict(&everything_but_write, "any.thing", dodge),
                Some(true),
                "{dodge:?}"
            );
        }
    }

    #[test]
    fn what_tessera_would_refuse_or_an_inactive_answer_is_left_to_tessera() {
        let deploy = answer("deploy.", &["read"]);
        for (identifier, action) in [
            ("", ""),
            ("deploy.a b", ""),
            ("deploy.\u{7f}", ""),
            ("deploy.a", "re ad"),
            ("deploy.a", "écrire"),
            ("deploy.a", " read"),
            ("deploy.a", "read "),
            ("deploy.a", "*"),
            ("deploy.a", "-read"),
        ] {
            assert_eq!(
                namespace_verdict(&deploy, identifier, action),
                None,
                "{identifier:?} {action:?}"
            );
        }
        let long_action = "a".repeat(tessera_proto::bounds::PERMISSION + 1);
        assert_eq!(namespace_verdict(&deploy, "deploy.a", &long_action), None);
        let long_identifier = format!("deploy.{}", "a".repeat(600));
        assert_eq!(namespace_verdict(&deploy, &long_identifier, ""), None);
        assert_eq!(
            namespace_verdict(&Introspection::default(), "deploy.a", ""),
            None
        );
    }
}
