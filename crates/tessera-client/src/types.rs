//! Typed answers of AuthService: `OffsetDateTime` times, enums for kinds, secrets wrapped.

use time::OffsetDateTime;

use crate::pb;
use crate::secret::Secret;

/// A wire timestamp as an `OffsetDateTime` (UTC); `None` when absent or out of range.
pub(crate) fn time_of(at: Option<&prost_types::Timestamp>) -> Option<OffsetDateTime> {
    let at = at?;
    let nanos = i128::from(at.seconds) * 1_000_000_000 + i128::from(at.nanos.max(0));
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// An `OffsetDateTime` as a wire timestamp.
pub(crate) fn timestamp_of(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    }
}

/// What kind of token something is: the rules' own kind (`session`, `api`…); an answer that does
/// not say (an inactive token, or a newer server's kind) carries `None`.
pub use tessera_rules::token::TokenKind;

/// A kind as the wire carries it; `None` when unspecified or unknown.
pub(crate) fn kind_from_wire(kind: i32) -> Option<TokenKind> {
    match pb::TokenType::try_from(kind).unwrap_or(pb::TokenType::Unspecified) {
        pb::TokenType::Unspecified => None,
        pb::TokenType::Session => Some(TokenKind::Session),
        pb::TokenType::Elevated => Some(TokenKind::Elevated),
        pb::TokenType::Api => Some(TokenKind::Api),
        pb::TokenType::Service => Some(TokenKind::Service),
        pb::TokenType::Static => Some(TokenKind::Static),
        pb::TokenType::Master => Some(TokenKind::Master),
    }
}

/// A kind for the wire; `None` is unspecified (the server's default).
pub(crate) fn kind_to_wire(kind: Option<TokenKind>) -> pb::TokenType {
    match kind {
        None => pb::TokenType::Unspecified,
        Some(TokenKind::Session) => pb::TokenType::Session,
        Some(TokenKind::Elevated) => pb::TokenType::Elevated,
        Some(TokenKind::Api) => pb::TokenType::Api,
        Some(TokenKind::Service) => pb::TokenType::Service,
        Some(TokenKind::Static) => pb::TokenType::Static,
        Some(TokenKind::Master) => pb::TokenType::Master,
    }
}

/// How an issued token is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenFormat {
    /// `tsr_<kind>_<random>` (the default).
    #[default]
    Opaque,
    /// An EdDSA-signed JWT (still checked for revocation by Introspect).
    Jwt,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// Stable id.
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// `user`, `admin`, `owner`, `superuser` or `root`.
    pub role: String,
    /// Whether login needs a TOTP code.
    pub totp_enabled: bool,
}

impl From<pb::User> for User {
    fn from(user: pb::User) -> Self {
        User {
            user_id: user.user_id,
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            totp_enabled: user.totp_enabled,
        }
    }
}

/// A new session from `Login`.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session token (a secret).
    pub token: Secret,
    /// Its public id.
    pub token_id: String,
    /// The session id (revoke it to end the session and everything derived from it).
    pub session_id: String,
    /// When it expires.
    pub expires_at: Option<OffsetDateTime>,
    /// Who logged in.
    pub user: User,
}

impl From<pb::LoginResponse> for Session {
    fn from(r: pb::LoginResponse) -> Self {
        Session {
            token: Secret::new(r.token),
            token_id: r.token_id,
            session_id: r.session_id,
            expires_at: time_of(r.expires_at.as_ref()),
            user: r.user.map(User::from).unwrap_or_default(),
        }
    }
}

/// A token from `IssueToken` or `Unlock`.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token (a secret, shown once).
    pub token: Secret,
    /// Its public id.
    pub token_id: String,
    /// When it expires.
    pub expires_at: Option<OffsetDateTime>,
    /// Its namespace (empty for `Unlock`).
    pub namespace: String,
    /// Its permissions (empty for `Unlock`).
    pub permissions: Vec<String>,
    /// Its use limit, when limited.
    pub max_uses: Option<u32>,
}

impl From<pb::IssueTokenResponse> for IssuedToken {
    fn from(r: pb::IssueTokenResponse) -> Self {
        IssuedToken {
            token: Secret::new(r.token),
            token_id: r.token_id,
            expires_at: time_of(r.expires_at.as_ref()),
            namespace: r.namespace,
            permissions: r.permissions,
            max_uses: r.max_uses,
        }
    }
}

impl From<pb::UnlockResponse> for IssuedToken {
    fn from(r: pb::UnlockResponse) -> Self {
        IssuedToken {
            token: Secret::new(r.token),
            token_id: r.token_id,
            expires_at: time_of(r.expires_at.as_ref()),
            namespace: String::new(),
            permissions: Vec::new(),
            max_uses: None,
        }
    }
}

/// What `Introspect` says about a token (RFC 7662): an inactive token says nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Introspection {
    /// Whether the token is good right now.
    pub active: bool,
    /// Its public id.
    pub token_id: String,
    /// Its kind.
    pub kind: Option<TokenKind>,
    /// The account id.
    pub subject: String,
    /// The account name.
    pub username: String,
    /// The account's roles.
    pub roles: Vec<String>,
    /// Its permissions (`*`, names, and `-name` exclusions).
    pub permissions: Vec<String>,
    /// Its namespace (`*`, an exact name, or a prefix ending in `.`, `/` or `:`).
    pub namespace: String,
    /// When it was issued.
    pub issued_at: Option<OffsetDateTime>,
    /// When it expires.
    pub expires_at: Option<OffsetDateTime>,
    /// Whether it is elevated (`Unlock`).
    pub elevated: bool,
    /// Uses left, for a limited-use token.
    pub uses_remaining: Option<u32>,
    /// The session it derives from.
    pub session_id: String,
}

impl Introspection {
    /// Whether the token's permissions allow `permission`: named, or `*` without `-permission`.
    ///
    /// ```
    /// use tessera_client::Introspection;
    ///
    /// let me = Introspection {
    ///     active: true,
    ///     permissions: vec!["*".into(), "-admin".into()],
    ///     ..Default::default()
    /// };
    /// assert!(me.permits("introspect"));
    /// assert!(!me.permits("admin"));
    /// ```
    ///
    /// Only one well-formed permission name is ever permitted, as Tessera's own rule has it
    /// (`tessera_rules::permission::validate_action`): `" admin"`, `"*"` or `"-admin"` never are,
    /// so padding cannot dodge an exclusion.
    pub fn permits(&self, permission: &str) -> bool {
        tessera_rules::permission::PermissionSet::parse(&self.permissions)
            .is_ok_and(|held| held.permits(permission))
    }

    /// What the token reaches (namespace and permissions), for deciding a namespace question
    /// locally with Tessera's own rule ([`tessera_rules::decision`]); `None` for an inactive
    /// token or one whose answer does not read back.
    pub fn reach(&self) -> Option<tessera_rules::decision::Reach> {
        if !self.active {
            return None;
        }
        tessera_rules::decision::Reach::from_stored(&self.namespace, &self.permissions).ok()
    }
}

impl From<pb::IntrospectResponse> for Introspection {
    fn from(r: pb::IntrospectResponse) -> Self {
        Introspection {
            active: r.active,
            token_id: r.token_id,
            kind: kind_from_wire(r.token_type),
            subject: r.subject,
            username: r.username,
            roles: r.roles,
            permissions: r.permissions,
            namespace: r.namespace,
            issued_at: time_of(r.issued_at.as_ref()),
            expires_at: time_of(r.expires_at.as_ref()),
            elevated: r.elevated,
            uses_remaining: r.uses_remaining,
            session_id: r.session_id,
        }
    }
}

/// One identifier's namespace decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierDecision {
    /// The identifier asked about.
    pub identifier: String,
    /// Whether the token may touch it.
    pub allowed: bool,
}

/// What `CheckNamespace` says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceDecision {
    /// Whether the token is active (when not, nothing is allowed).
    pub active: bool,
    /// One decision per identifier, in request order.
    pub results: Vec<IdentifierDecision>,
    /// Whether every identifier is allowed (and the token active).
    pub allowed: bool,
    /// The token's namespace.
    pub namespace: String,
    /// The token's public id.
    pub token_id: String,
}

impl From<pb::CheckNamespaceResponse> for NamespaceDecision {
    fn from(r: pb::CheckNamespaceResponse) -> Self {
        NamespaceDecision {
            active: r.active,
            allowed: r.active && r.allowed,
            results: r
                .results
                .into_iter()
                .map(|d| IdentifierDecision {
                    identifier: d.identifier,
                    allowed: d.allowed,
                })
                .collect(),
            namespace: r.namespace,
            token_id: r.token_id,
        }
    }
}

/// One public key of the JWT key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonWebKey {
    /// Key type (`OKP`).
    pub kty: String,
    /// Curve (`Ed25519`).
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// Key id, as in a JWT's `kid`.
    pub kid: String,
    /// Intended use (`sig`).
    pub key_use: String,
    /// Algorithm (`EdDSA`).
    pub alg: String,
}

/// The JWT verification keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    /// The JWKS document, as served to JWT libraries.
    pub json: String,
    /// The keys, parsed.
    pub keys: Vec<JsonWebKey>,
}

impl From<pb::GetJwksResponse> for Jwks {
    fn from(r: pb::GetJwksResponse) -> Self {
        Jwks {
            json: r.jwks_json,
            keys: r
                .keys
                .into_iter()
                .map(|k| JsonWebKey {
                    kty: k.kty,
                    crv: k.crv,
                    x: k.x,
                    kid: k.kid,
                    key_use: k.r#use,
                    alg: k.alg,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_times_convert_both_ways() {
        let at = time_of(Some(&prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        }))
        .unwrap();
        assert_eq!(at.unix_timestamp(), 1_700_000_000);
        assert_eq!(at.nanosecond(), 5);
        assert_eq!(timestamp_of(at).seconds, 1_700_000_000);
        assert_eq!(time_of(None), None);
    }

    #[test]
    fn exclusions_beat_the_wildcard_and_names_beat_exclusions() {
        let me = |p: &[&str]| Introspection {
            permissions: p.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(me(&["*"]).permits("admin"));
        assert!(!me(&["*", "-admin"]).permits("admin"));
        assert!(me(&["introspect"]).permits("introspect"));
        assert!(!me(&["introspect"]).permits("issue"));
        assert!(!me(&[]).permits("introspect"));
    }

    #[test]
    fn only_a_well_formed_name_is_permitted() {
        let all_but_run = Introspection {
            permissions: vec!["*".into(), "-run".into()],
            ..Default::default()
        };
        assert!(all_but_run.permits("read"));
        for dodge in [" run", "run ", "run\u{a0}", "*", "-run", "", "Run"] {
            assert!(!all_but_run.permits(dodge), "{dodge:?}");
        }
    }

    #[test]
    fn an_inactive_namespace_answer_allows_nothing() {
        let answer = NamespaceDecision::from(pb::CheckNamespaceResponse {
            active: false,
            allowed: true,
            ..Default::default()
        });
        assert!(!answer.allowed);
    }
}
