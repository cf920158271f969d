//! The edge's two cookies: the session and the elevated ("root unlocked") token.
//!
//! Both are `__Host-` cookies (`Secure`, `Path=/`, no `Domain`): a sibling subdomain cannot plant
//! or overwrite them, and they never travel over plain HTTP from a real host. Both are `HttpOnly`
//! and `SameSite=Strict`, so page scripts cannot read them and other sites cannot make a browser
//! send them. The edge removes them before forwarding a request upstream: the upstream learns who
//! is calling from the identity headers, never the secret.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

use crate::token::{check_token_syntax, Token};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "__Host-tessera_session";
/// Name of the elevated-token cookie set by root unlock.
pub const ELEVATED_COOKIE: &str = "__Host-tessera_elevated";

/// Why the Cookie header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// A Cookie header that is not text.
    #[error("the cookie header is not text")]
    NotText,
    /// One of the edge's cookies appears twice (a planted cookie, or a confused client).
    #[error("cookie {0} appears more than once")]
    Duplicate(&'static str),
    /// One of the edge's cookies holds something no token looks like.
    #[error("cookie {0} does not hold a token")]
    Malformed(&'static str),
}

/// The edge's cookies as a request presented them.
#[derive(Debug, Default)]
pub struct EdgeCookies {
    /// The session token.
    pub session: Option<Token>,
    /// The elevated token.
    pub elevated: Option<Token>,
}

/// Every `name=value` pair in the request's Cookie headers (HTTP/2 may split them).
fn pairs(headers: &HeaderMap) -> Result<Vec<(&str, &str)>, CookieError> {
    let mut pairs = Vec::new();
    for value in headers.get_all(COOKIE) {
        let text = value.to_str().map_err(|_| CookieError::NotText)?;
        for pair in text.split(';') {
            let pair = pair.trim_matches([' ', '\t']);
            if pair.is_empty() {
                continue;
            }
            match pair.split_once('=') {
                Some((name, value)) => pairs.push((name.trim(), value.trim())),
                None => pairs.push(("", pair)),
            }
        }
    }
    Ok(pairs)
}

/// Finds the edge's cookies. Other cookies are the upstream's business and pass untouched.
pub fn edge_cookies(headers: &HeaderMap) -> Result<EdgeCookies, CookieError> {
    let mut found = EdgeCookies::default();
    for (name, value) in pairs(headers)? {
        let (slot, name) = match name {
            SESSION_COOKIE => (&mut found.session, SESSION_COOKIE),
            ELEVATED_COOKIE => (&mut found.elevated, ELEVATED_COOKIE),
            _ => continue,
        };
        if slot.is_some() {
            return Err(CookieError::Duplicate(name));
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        check_token_syntax(value).map_err(|_| CookieError::Malformed(name))?;
        *slot = Some(Token::new(value.to_owned()));
    }
    Ok(found)
}

/// Removes the edge's cookies from the Cookie headers, joining the rest into one header (as
/// HTTP/1.1 upstreams expect).
pub fn strip_edge_cookies(headers: &mut HeaderMap) {
    if !headers.contains_key(COOKIE) {
        return;
    }
    let kept: Vec<String> = match pairs(headers) {
        Ok(pairs) => pairs
            .into_iter()
            .filter(|(name, _)| *name != SESSION_COOKIE && *name != ELEVATED_COOKIE)
            .map(|(name, value)| {
                if name.is_empty() {
                    value.to_owned()
                } else {
                    format!("{name}={value}")
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    headers.remove(COOKIE);
    if kept.is_empty() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
        headers.insert(COOKIE, value);
    }
}

/// Removes any `Set-Cookie` for the edge's cookie names from an upstream response: only the edge
/// decides what its cookies hold.
pub fn strip_edge_set_cookies(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter(|value| {
            let name = value
                .to_str()
                .ok()
                .and_then(|text| text.split_once('='))
                .map(|(name, _)| name.trim());
            !matches!(name, Some(SESSION_COOKIE | ELEVATED_COOKIE))
        })
        .cloned()
        .collect();
    headers.remove(SET_COOKIE);
    for value in kept {
        headers.append(SET_COOKIE, value);
    }
}

/// `Set-Cookie` that stores `token` under `name` for `max_age` seconds (a browser-session cookie
/// when `None`).
pub fn set_cookie(name: &str, token: &str, max_age: Option<i64>) -> HeaderValue {
    let mut text = format!("{name}={token}; Path=/; HttpOnly; Secure; SameSite=Strict");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={}", seconds.max(0)));
    }
    // Tokens were checked to be visible ASCII, so this cannot fail; an empty value if it did.
    HeaderValue::from_str(&text).unwrap_or_else(|_| clear_cookie(name))
}

/// `Set-Cookie` that deletes the cookie `name`.
pub fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0"
    ))
    .unwrap_or(HeaderValue::from_static(
        "__Host-tessera_session=; Path=/; Max-Age=0",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(COOKIE, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn finds_the_edge_cookies_among_others() {
        let map = headers(&[
            "theme=dark; __Host-tessera_session=tsr_ses_abc; x",
            "__Host-tessera_elevated=tsr_elv_def",
        ]);
        let found = edge_cookies(&map).unwrap();
        assert_eq!(found.session.unwrap().expose(), "tsr_ses_abc");
        assert_eq!(found.elevated.unwrap().expose(), "tsr_elv_def");
    }

    #[test]
    fn no_cookie_header_is_no_cookies() {
        let found = edge_cookies(&HeaderMap::new()).unwrap();
        assert!(found.session.is_none() && found.elevated.is_none());
    }

    #[test]
    fn a_duplicated_session_cookie_is_refused() {
        let map = headers(&["__Host-tessera_session=a1; __Host-tessera_session=b2"]);
        assert_eq!(
            edge_cookies(&map).unwrap_err(),
            CookieError::Duplicate(SESSION_COOKIE)
        );
    }

    #[test]
    fn a_malformed_session_cookie_is_refused_but_foreign_junk_is_not_ours_to_judge() {
        for bad in [
            "__Host-tessera_session=",
            "__Host-tessera_session=a\"b",
            "__Host-tessera_session=\"\"",
        ] {
            assert!(edge_cookies(&headers(&[bad])).is_err(), "{bad}");
        }
        assert!(edge_cookies(&headers(&["=; ;;junk; a=b=c"]))
            .unwrap()
            .session
            .is_none());
    }

    #[test]
    fn non_text_cookie_header_is_refused() {
        let mut map = HeaderMap::new();
        map.insert(COOKIE, HeaderValue::from_bytes(b"a=\xff").unwrap());
        assert_eq!(edge_cookies(&map).unwrap_err(), CookieError::NotText);
    }

    #[test]
    fn stripping_keeps_other_cookies_in_one_header() {
        let mut map = headers(&[
            "a=1; __Host-tessera_session=tsr_x",
            "b=2; __Host-tessera_elevated=tsr_y",
        ]);
        strip_edge_cookies(&mut map);
        assert_eq!(map.get_all(COOKIE).iter().count(), 1);
        assert_eq!(map[COOKIE], "a=1; b=2");
        let mut only_ours = headers(&["__Host-tessera_session=tsr_x"]);
        strip_edge_cookies(&mut only_ours);
        assert!(!only_ours.contains_key(COOKIE));
    }

    #[test]
    fn upstream_cannot_set_the_edge_cookies() {
        let mut map = HeaderMap::new();
        map.append(
            SET_COOKIE,
            HeaderValue::from_static("__Host-tessera_session=evil; Path=/"),
        );
        map.append(SET_COOKIE, HeaderValue::from_static("app=1"));
        strip_edge_set_cookies(&mut map);
        let left: Vec<_> = map.get_all(SET_COOKIE).iter().collect();
        assert_eq!(left, vec!["app=1"]);
    }

    #[test]
    fn set_cookie_has_every_protection() {
        let value = set_cookie(SESSION_COOKIE, "tsr_ses_x", Some(3600));
        let text = value.to_str().unwrap();
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(clear_cookie(ELEVATED_COOKIE)
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }
}
