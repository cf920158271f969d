//! Who a request acts for, as the upstream learns it: the `X-Tessera-*` identity headers.
//!
//! Every header whose name, with `_` read as `-` and case folded, starts with `x-tessera-` is
//! removed from every incoming request before anything else looks at it, so an upstream can trust
//! these headers whenever the edge is the only way in. The underscore spelling matters because
//! CGI, WSGI, Rack and PHP fold `X_Tessera_Username` and `X-Tessera-Username` into the same
//! `HTTP_X_TESSERA_USERNAME`; a front proxy in forward-auth mode replaces only the `-` spelling,
//! so a request carrying the `_` spelling is refused on authenticated routes (see
//! [`crate::gate`]) rather than left for the upstream to merge.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Prefix of every identity header; client-supplied headers with it are always dropped.
pub const IDENTITY_PREFIX: &str = "x-tessera-";

/// `X-Tessera-Subject`: the account id (empty for tokens of no account).
pub const SUBJECT: HeaderName = HeaderName::from_static("x-tessera-subject");
/// `X-Tessera-Username`.
pub const USERNAME: HeaderName = HeaderName::from_static("x-tessera-username");
/// `X-Tessera-Roles`: comma-separated.
pub const ROLES: HeaderName = HeaderName::from_static("x-tessera-roles");
/// `X-Tessera-Namespace`: the namespace prefix (`*` for all).
pub const NAMESPACE: HeaderName = HeaderName::from_static("x-tessera-namespace");
/// `X-Tessera-Token-Id`: the public id of the token used.
pub const TOKEN_ID: HeaderName = HeaderName::from_static("x-tessera-token-id");
/// `X-Tessera-Elevated`: `true` when the request carries an elevated (root unlocked) token.
pub const ELEVATED: HeaderName = HeaderName::from_static("x-tessera-elevated");

/// The identity headers, in the order they are written.
pub const IDENTITY_HEADERS: [HeaderName; 6] =
    [SUBJECT, USERNAME, ROLES, NAMESPACE, TOKEN_ID, ELEVATED];

/// What Introspect said about an active token, as far as the upstream needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Account id.
    pub subject: String,
    /// Login name.
    pub username: String,
    /// Roles of the account.
    pub roles: Vec<String>,
    /// Namespace prefix.
    pub namespace: String,
    /// Public token id.
    pub token_id: String,
    /// Whether the token is elevated.
    pub elevated: bool,
    /// Session the token derives from.
    pub session_id: String,
    /// Expiry, seconds since the epoch.
    pub expires_at: Option<i64>,
}

impl Identity {
    /// The identity of an active token.
    pub fn from_introspection(response: &tessera_client::Introspection) -> Self {
        Self {
            subject: response.subject.clone(),
            username: response.username.clone(),
            roles: response.roles.clone(),
            namespace: response.namespace.clone(),
            token_id: response.token_id.clone(),
            elevated: response.elevated,
            session_id: response.session_id.clone(),
            expires_at: response.expires_at.map(|t| t.unix_timestamp()),
        }
    }

    /// Writes the identity headers, replacing any of the same names. On every admitted request:
    /// values are made straight from the fields (no intermediate copies), room made once.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.reserve(IDENTITY_HEADERS.len());
        let roles = self.roles.join(",");
        let values = [
            self.subject.as_str(),
            self.username.as_str(),
            roles.as_str(),
            self.namespace.as_str(),
            self.token_id.as_str(),
        ];
        // Zipped with the first five names; the sixth, ELEVATED, is a constant.
        for (name, value) in IDENTITY_HEADERS.into_iter().zip(values) {
            headers.insert(name, header_value(value));
        }
        let elevated = if self.elevated { "true" } else { "false" };
        headers.insert(ELEVATED, HeaderValue::from_static(elevated));
    }

    /// The identity as JSON, for the status endpoints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": self.subject,
            "username": self.username,
            "roles": self.roles,
            "namespace": self.namespace,
            "token_id": self.token_id,
            "elevated": self.elevated,
            "session_id": self.session_id,
            "expires_at": self.expires_at.and_then(rfc3339),
        })
    }
}

/// A header value for text from Tessera; characters a header cannot carry become `?` (Tessera
/// refuses such names, so this is a guard, not a path).
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_bytes(text.as_bytes()).unwrap_or_else(|_| {
        let cleaned: String = text
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        HeaderValue::from_bytes(cleaned.as_bytes()).unwrap_or(HeaderValue::from_static(""))
    })
}

/// Whether `name` is an identity header in any spelling: `_` read as `-`, case folded (header
/// names reach here lowercased already).
pub fn is_identity_header(name: &str) -> bool {
    name.len() >= IDENTITY_PREFIX.len()
        && name
            .bytes()
            .zip(IDENTITY_PREFIX.bytes())
            .all(|(got, want)| got.to_ascii_lowercase() == want || (got == b'_' && want == b'-'))
}

/// A client sent an identity header spelled with `_`, which no front proxy replaces; put into the
/// request's extensions so the gate refuses the request on authenticated routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForgedIdentity;

/// Removes every identity header a client sent, in every spelling; `Some(ForgedIdentity)` when
/// one of them used `_` in its name.
pub fn strip_identity_headers(headers: &mut HeaderMap) -> Option<ForgedIdentity> {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_identity_header(name.as_str()))
        .cloned()
        .collect();
    let forged = spoofed.iter().any(|name| name.as_str().contains('_'));
    for name in spoofed {
        headers.remove(name);
    }
    forged.then_some(ForgedIdentity)
}

/// Seconds since the epoch as RFC 3339 text.
pub fn rfc3339(seconds: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response() -> tessera_client::Introspection {
        tessera_client::Introspection {
            active: true,
            token_id: "tok_1".into(),
            subject: "8d1c".into(),
            username: "alice".into(),
            roles: vec!["user".into(), "ops".into()],
            namespace: "deploy.".into(),
            elevated: false,
            expires_at: Some(time::OffsetDateTime::UNIX_EPOCH),
            ..Default::default()
        }
    }

    #[test]
    fn identity_headers_carry_what_tessera_said() {
        let mut headers = HeaderMap::new();
        Identity::from_introspection(&response()).write_headers(&mut headers);
        assert_eq!(headers[&SUBJECT], "8d1c");
        assert_eq!(headers[&USERNAME], "alice");
        assert_eq!(headers[&ROLES], "user,ops");
        assert_eq!(headers[&NAMESPACE], "deploy.");
        assert_eq!(headers[&TOKEN_ID], "tok_1");
        assert_eq!(headers[&ELEVATED], "false");
    }

    #[test]
    fn writing_replaces_rather_than_appends() {
        let mut headers = HeaderMap::new();
        headers.append(&USERNAME, HeaderValue::from_static("mallory"));
        headers.append(&USERNAME, HeaderValue::from_static("root"));
        Identity::from_introspection(&response()).write_headers(&mut headers);
        assert_eq!(
            headers.get_all(&USERNAME).iter().collect::<Vec<_>>(),
            vec!["alice"]
        );
    }

    #[test]
    fn spoofed_identity_headers_are_stripped_whatever_their_case() {
        let mut headers = HeaderMap::new();
        headers.insert("X-Tessera-Subject", HeaderValue::from_static("admin"));
        headers.insert("x-tessera-roles", HeaderValue::from_static("root"));
        headers.insert("X-TESSERA-Anything-New", HeaderValue::from_static("1"));
        headers.insert("x-tesseract", HeaderValue::from_static("kept"));
        assert_eq!(strip_identity_headers(&mut headers), None);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-tesseract"));
    }

    #[test]
    fn underscore_spellings_are_stripped_and_reported() {
        let mut headers = HeaderMap::new();
        headers.insert("x_tessera_username", HeaderValue::from_static("root"));
        headers.insert("X-Tessera_Roles", HeaderValue::from_static("admin"));
        headers.insert("x_tessera-", HeaderValue::from_static("1"));
        headers.insert("x_tesser", HeaderValue::from_static("kept"));
        headers.insert("x-tessera", HeaderValue::from_static("kept"));
        assert_eq!(strip_identity_headers(&mut headers), Some(ForgedIdentity));
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["x-tessera", "x_tesser"]);
    }

    #[test]
    fn expiry_is_rfc3339() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        let json = Identity::from_introspection(&response()).to_json();
        assert_eq!(json["expires_at"], "1970-01-01T00:00:00Z");
        assert_eq!(json["username"], "alice");
    }
}
