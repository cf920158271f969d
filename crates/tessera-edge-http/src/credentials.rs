//! Where a request's token comes from, in a fixed order: `Authorization: Bearer`, then the session
//! cookie (the elevated cookie first, when root is unlocked), then — only on a WebSocket upgrade,
//! which browsers cannot give headers — the `access_token` query parameter.
//!
//! Anything malformed is refused here, before Tessera is asked: `Bearer` with no token or with
//! spaces, a token with characters no token has, a duplicated cookie or query parameter.

use http::header::{AUTHORIZATION, CONNECTION, UPGRADE};
use http::{HeaderMap, Method};

use crate::cookie::{edge_cookies, CookieError};
pub use crate::token::{check_token_syntax, Token};

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Authorization: Bearer …`.
    Bearer,
    /// The elevated cookie from root unlock.
    ElevatedCookie,
    /// The session cookie.
    SessionCookie,
    /// `?access_token=` on a WebSocket upgrade.
    QueryParameter,
}

impl Source {
    /// Whether a browser attaches this credential by itself, so a state change needs the
    /// same-origin check.
    pub fn is_ambient(self) -> bool {
        matches!(self, Self::ElevatedCookie | Self::SessionCookie)
    }
}

/// Why the request's credentials cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The Authorization header is not `Bearer <token>`.
    #[error("malformed authorization header: {0}")]
    Authorization(&'static str),
    /// A problem with the Cookie header.
    #[error(transparent)]
    Cookie(#[from] CookieError),
    /// `access_token` given more than once, or not a token.
    #[error("malformed access_token query parameter")]
    QueryParameter,
}

/// The bearer token, if the request has an Authorization header with the Bearer scheme.
/// Another scheme (Basic, …) is not Tessera's and is left for the upstream.
pub fn bearer(headers: &HeaderMap) -> Result<Option<Token>, CredentialError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(CredentialError::Authorization(
            "more than one authorization header",
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| CredentialError::Authorization("not text"))?;
    let (scheme, separator, rest) = match text.find([' ', '\t']) {
        Some(at) => (&text[..at], &text[at..at + 1], &text[at + 1..]),
        None => (text, "", ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    if separator == "\t" {
        return Err(CredentialError::Authorization("bearer token after a tab"));
    }
    if rest.is_empty() {
        return Err(CredentialError::Authorization("bearer without a token"));
    }
    let token = rest;
    check_token_syntax(token).map_err(CredentialError::Authorization)?;
    Ok(Some(Token::new(token.to_owned())))
}

/// Whether the request asks to become a WebSocket (RFC 6455 §4.1).
pub fn is_websocket_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    method == Method::GET && has_token(UPGRADE, "websocket") && has_token(CONNECTION, "upgrade")
}

/// Takes `access_token` out of a query string: the token, and the query left to forward (raw
/// encoding of the other parameters kept as it was).
pub fn take_query_token(query: &str) -> Result<(Option<Token>, String), CredentialError> {
    let mut token = None;
    let mut kept = Vec::new();
    for part in query.split('&') {
        let name = part.split_once('=').map_or(part, |(name, _)| name);
        let decoded_name: String = form_urlencoded::parse(name.as_bytes())
            .next()
            .map(|(name, _)| name.into_owned())
            .unwrap_or_default();
        if decoded_name != "access_token" {
            if !part.is_empty() {
                kept.push(part);
            }
            continue;
        }
        if token.is_some() {
            return Err(CredentialError::QueryParameter);
        }
        let value = form_urlencoded::parse(part.as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        check_token_syntax(&value).map_err(|_| CredentialError::QueryParameter)?;
        token = Some(Token::new(value));
    }
    Ok((token, kept.join("&")))
}

/// Every credential a request presents, before the order picks one.
#[derive(Debug, Default)]
pub struct Presented {
    /// From `Authorization: Bearer`.
    pub bearer: Option<Token>,
    /// From the session cookie.
    pub session_cookie: Option<Token>,
    /// From the elevated cookie.
    pub elevated_cookie: Option<Token>,
    /// From `access_token`, on a WebSocket upgrade only.
    pub query: Option<Token>,
}

impl Presented {
    /// Reads the credentials of a request; `query_token` is the one [`take_query_token`] found on a
    /// WebSocket upgrade.
    pub fn read(headers: &HeaderMap, query_token: Option<Token>) -> Result<Self, CredentialError> {
        let bearer = bearer(headers)?;
        let cookies = edge_cookies(headers)?;
        Ok(Self {
            bearer,
            session_cookie: cookies.session,
            elevated_cookie: cookies.elevated,
            query: query_token,
        })
    }

    /// The candidates in order. Only the first source present counts, except that a stale
    /// elevated cookie falls back to the session cookie beside it.
    pub fn candidates(&self) -> Vec<(Token, Source)> {
        if let Some(token) = &self.bearer {
            return vec![(token.clone(), Source::Bearer)];
        }
        let mut cookies = Vec::new();
        if let Some(token) = &self.elevated_cookie {
            cookies.push((token.clone(), Source::ElevatedCookie));
        }
        if let Some(token) = &self.session_cookie {
            cookies.push((token.clone(), Source::SessionCookie));
        }
        if !cookies.is_empty() {
            return cookies;
        }
        self.query
            .iter()
            .map(|token| (token.clone(), Source::QueryParameter))
            .collect()
    }

    /// The session credential: bearer, else the session cookie (never the elevated one).
    pub fn session(&self) -> Option<(Token, Source)> {
        self.bearer
            .clone()
            .map(|t| (t, Source::Bearer))
            .or_else(|| {
                self.session_cookie
                    .clone()
                    .map(|t| (t, Source::SessionCookie))
            })
    }
}

#[cfg(test)]
mod tests;
