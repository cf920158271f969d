//! The request's scheme and origin as the browser saw them, and the same-origin check that keeps
//! other sites from making a browser spend its cookies on a state change (CSRF).
//!
//! Behind a TLS-terminating proxy the edge sees plain HTTP; with `--trust-proxy` it takes the
//! scheme and host from `X-Forwarded-Proto` / `X-Forwarded-Host`, and otherwise ignores them (a
//! client could send them).

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, Method, Uri};

pub use crate::policy::Origin;
use crate::policy::Policy;

/// `http` or `https`, as the client's connection had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS, at the edge or at a trusted proxy.
    Https,
}

impl Scheme {
    /// The scheme's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

fn first_forwarded(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

/// The client's IP address: the last `X-Forwarded-For` entry from a trusted proxy (the one that
/// proxy appended; earlier ones are the client's own word), else the connection's peer.
pub fn client_ip(
    policy: &Policy,
    headers: &HeaderMap,
    peer: Option<crate::server::ClientAddr>,
) -> Option<std::net::IpAddr> {
    if policy.trust_proxy {
        let appended = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .rfind(|entry| !entry.is_empty())
            .and_then(|entry| entry.parse::<std::net::IpAddr>().ok());
        if appended.is_some() {
            return appended;
        }
    }
    peer.map(|crate::server::ClientAddr(addr)| addr.ip())
}

/// The scheme the client used: TLS at the edge, or `X-Forwarded-Proto` from a trusted proxy.
pub fn scheme(policy: &Policy, headers: &HeaderMap) -> Scheme {
    if policy.tls {
        return Scheme::Https;
    }
    if policy.trust_proxy {
        if let Some(proto) = first_forwarded(headers, "x-forwarded-proto") {
            if proto.eq_ignore_ascii_case("https") {
                return Scheme::Https;
            }
        }
    }
    Scheme::Http
}

/// The host the client asked for: `X-Forwarded-Host` from a trusted proxy, else `Host`, else the
/// URI's authority (HTTP/2).
pub fn host(policy: &Policy, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if policy.trust_proxy {
        if let Some(host) = first_forwarded(headers, "x-forwarded-host") {
            return Some(host);
        }
    }
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}

/// The edge's own origin for this request.
pub fn own_origin(policy: &Policy, headers: &HeaderMap, uri: &Uri) -> Option<Origin> {
    Origin::from_parts(
        scheme(policy, headers).as_str(),
        &host(policy, headers, uri)?,
    )
}

/// Whether `method` can change state (RFC 9110 §9.2.1 "safe" methods cannot).
pub fn changes_state(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Why the same-origin check refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CrossOrigin {
    /// `Sec-Fetch-Site` says another site or origin sent it.
    #[error("sec-fetch-site is not same-origin")]
    FetchSite,
    /// `Origin` names another origin.
    #[error("origin is not this edge's")]
    Origin,
    /// Neither header: no browser that sends cookies leaves both out of a state change.
    #[error("no origin information")]
    Unknown,
}

/// The check for a cookie-authenticated state change. `Sec-Fetch-Site`, which only the browser
/// can set, passes the request when it says `same-origin`, or `none` for a user's own navigation.
/// Any other value passes only when `Origin` names an `--allowed-origin` (a page of another
/// origin the operator trusts, which browsers mark `same-site` or `cross-site`). Without
/// `Sec-Fetch-Site` (older browsers, plain HTTP), `Origin` must be the edge's or an allowed one.
/// With neither, the request is refused: no browser that sends cookies leaves both out of a state
/// change.
pub fn check_same_origin(
    policy: &Policy,
    headers: &HeaderMap,
    own: Option<&Origin>,
) -> Result<(), CrossOrigin> {
    let origin = headers
        .get(ORIGIN)
        .map(|value| value.to_str().ok().and_then(Origin::parse));
    let allowed = |origin: &Option<Origin>| {
        origin
            .as_ref()
            .is_some_and(|o| policy.allowed_origins.contains(o))
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ if origin.as_ref().is_some_and(allowed) => Ok(()),
            _ => Err(CrossOrigin::FetchSite),
        };
    }
    let Some(origin) = origin else {
        return Err(CrossOrigin::Unknown);
    };
    if origin.is_some() && (origin.as_ref() == own || allowed(&origin)) {
        Ok(())
    } else {
        Err(CrossOrigin::Origin)
    }
}

/// The check for a login form or JSON login: no credential is spent, so a client that sends no
/// origin information (curl, a script) may log in; a browser on another site may not (login CSRF).
pub fn check_not_cross_origin(
    policy: &Policy,
    headers: &HeaderMap,
    own: Option<&Origin>,
) -> Result<(), CrossOrigin> {
    match check_same_origin(policy, headers, own) {
        Err(CrossOrigin::Unknown) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests;
