//! AuthService calls: typed requests in, typed answers out.

use std::time::Duration;

use tessera_proto::v1::auth_service_client::AuthServiceClient;

use crate::client::{Client, Repeat};
use crate::error::{Error, Reason};
use crate::pb;
use crate::secret::Secret;
use crate::types::{
    Introspection, IssuedToken, Jwks, NamespaceDecision, Session, TokenFormat, TokenKind,
};

/// A TTL as Tessera's grammar writes it (whole seconds); below one second is refused here.
pub(crate) fn ttl_text(ttl: Duration, field: &str) -> Result<String, Error> {
    if ttl.as_secs() == 0 {
        return Err(Error::local(
            Reason::InvalidArgument,
            field,
            "the ttl must be at least one second",
        ));
    }
    Ok(format!("{}s", ttl.as_secs()))
}

/// A token lifetime: a `Duration`, or text in Tessera's grammar (`30s`, `15m`, `1h30m`, `7d`)
/// that the server parses and checks, e.g. as a person typed it into a form.
///
/// ```
/// use std::time::Duration;
/// use tessera_client::Ttl;
///
/// assert_eq!(Ttl::from(Duration::from_secs(900)).to_wire().unwrap(), "900s");
/// assert_eq!(Ttl::from("1h30m").to_wire().unwrap(), "1h30m");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ttl {
    /// This long (whole seconds; at least one).
    Duration(Duration),
    /// As written; empty means the server's default where it has one.
    Text(String),
}

impl Ttl {
    /// The wire spelling.
    pub fn to_wire(&self) -> Result<String, Error> {
        match self {
            Ttl::Duration(ttl) => ttl_text(*ttl, "ttl"),
            Ttl::Text(text) => Ok(text.clone()),
        }
    }
}

impl From<Duration> for Ttl {
    fn from(ttl: Duration) -> Self {
        Ttl::Duration(ttl)
    }
}

impl From<&str> for Ttl {
    fn from(text: &str) -> Self {
        Ttl::Text(text.to_owned())
    }
}

impl From<String> for Ttl {
    fn from(text: String) -> Self {
        Ttl::Text(text)
    }
}

/// A `Login` request.
///
/// ```
/// use tessera_client::{Login, Secret};
///
/// let login = Login::new("alice", Secret::new("correct horse".into())).totp("123456");
/// # let _ = login;
/// ```
#[derive(Debug, Clone)]
pub struct Login {
    /// Account name.
    pub username: String,
    /// Its password.
    pub password: Secret,
    /// The current TOTP code, for an account that has TOTP.
    pub totp_code: Option<Secret>,
    /// For an edge logging a browser in: the browser's address, which the server counts the
    /// attempt against instead of the edge's own (sent only with a service token holding
    /// `introspect`; see [`tessera_proto::CLIENT_ADDRESS_HEADER`]).
    pub client_address: Option<std::net::IpAddr>,
}

impl Login {
    /// Username and password.
    pub fn new(username: impl Into<String>, password: Secret) -> Login {
        Login {
            username: username.into(),
            password,
            totp_code: None,
            client_address: None,
        }
    }

    /// With a TOTP code.
    pub fn totp(mut self, code: impl Into<String>) -> Login {
        self.totp_code = Some(Secret::new(code.into()));
        self
    }

    /// On behalf of the client at `address` (an edge's login page).
    pub fn for_client(mut self, address: std::net::IpAddr) -> Login {
        self.client_address = Some(address);
        self
    }
}

/// An `Unlock` request (elevation of the calling session).
///
/// ```
/// use std::time::Duration;
/// use tessera_client::{Secret, Unlock};
///
/// let unlock = Unlock::new(Secret::new("root password".into())).ttl(Duration::from_secs(300));
/// # let _ = unlock;
/// ```
#[derive(Debug, Clone)]
pub struct Unlock {
    /// The break-glass root password, or the caller's own.
    pub password: Secret,
    /// The caller's TOTP code, when its account has TOTP.
    pub totp_code: Option<Secret>,
    /// How long the elevation lasts (default: the server's cap).
    pub ttl: Option<Ttl>,
}

impl Unlock {
    /// With this password.
    pub fn new(password: Secret) -> Unlock {
        Unlock {
            password,
            totp_code: None,
            ttl: None,
        }
    }

    /// With a TOTP code.
    pub fn totp(mut self, code: impl Into<String>) -> Unlock {
        self.totp_code = Some(Secret::new(code.into()));
        self
    }

    /// For this long.
    pub fn ttl(mut self, ttl: impl Into<Ttl>) -> Unlock {
        self.ttl = Some(ttl.into());
        self
    }
}

/// An `IssueToken` request: a token derived from the caller's, never broader.
///
/// ```
/// use std::time::Duration;
/// use tessera_client::IssueToken;
///
/// let deploys = IssueToken::new(Duration::from_secs(15 * 60))
///     .namespace("deploy.")
///     .max_uses(1)
///     .description("nightly deploy");
/// let edge = IssueToken::new(Duration::from_secs(86_400)).service().permission("introspect");
/// # let _ = (deploys, edge);
/// ```
#[derive(Debug, Clone)]
pub struct IssueToken {
    /// Lifetime.
    pub ttl: Ttl,
    /// Use limit (`Some(1)` = single-use; `None` or `Some(0)`: unlimited).
    pub max_uses: Option<u32>,
    /// Namespace (default: the caller's).
    pub namespace: String,
    /// Permissions (default: the caller's minus `admin` and `issue`).
    pub permissions: Vec<String>,
    /// What it is for (audit trail, listings).
    pub description: String,
    /// Opaque or JWT.
    pub format: TokenFormat,
    /// API (default) or service token.
    pub kind: Option<TokenKind>,
}

impl IssueToken {
    /// A token living `ttl` (a `Duration`, or text such as `"1h30m"`).
    pub fn new(ttl: impl Into<Ttl>) -> IssueToken {
        IssueToken {
            ttl: ttl.into(),
            max_uses: None,
            namespace: String::new(),
            permissions: Vec::new(),
            description: String::new(),
            format: TokenFormat::Opaque,
            kind: None,
        }
    }

    /// Limited to `uses` uses.
    pub fn max_uses(mut self, uses: u32) -> IssueToken {
        self.max_uses = Some(uses);
        self
    }

    /// Within `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> IssueToken {
        self.namespace = namespace.into();
        self
    }

    /// Holding `permission` (repeat for more).
    pub fn permission(mut self, permission: impl Into<String>) -> IssueToken {
        self.permissions.push(permission.into());
        self
    }

    /// Described as `description`.
    pub fn description(mut self, description: impl Into<String>) -> IssueToken {
        self.description = description.into();
        self
    }

    /// As a signed JWT.
    pub fn jwt(mut self) -> IssueToken {
        self.format = TokenFormat::Jwt;
        self
    }

    /// As a service token (for an edge or a service; must not hold admin rights).
    pub fn service(mut self) -> IssueToken {
        self.kind = Some(TokenKind::Service);
        self
    }

    fn into_wire(self) -> Result<pb::IssueTokenRequest, Error> {
        Ok(pb::IssueTokenRequest {
            ttl: self.ttl.to_wire()?,
            max_uses: self.max_uses.unwrap_or(0),
            namespace: self.namespace,
            permissions: self.permissions,
            description: self.description,
            format: match self.format {
                TokenFormat::Opaque => pb::TokenFormat::Opaque,
                TokenFormat::Jwt => pb::TokenFormat::Jwt,
            } as i32,
            token_type: crate::types::kind_to_wire(self.kind) as i32,
        })
    }
}

/// What `Revoke` revokes (with everything derived from it).
#[derive(Debug, Clone)]
pub enum RevokeTarget {
    /// A token by its secret.
    Token(Secret),
    /// A token by its public id.
    TokenId(String),
    /// Every token of a session.
    SessionId(String),
    /// Every token of an account.
    Subject(String),
    /// Many tokens by public id (at most 1000), in one transaction.
    TokenIds(Vec<String>),
}

/// What a Revoke did, and how far it reached before it returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Revoked {
    /// Tokens newly revoked.
    pub count: u64,
    /// Every follower of the revocation feed (replica caches, edges) acknowledged it or saw its
    /// lease run out: no cache admits these tokens any more. False when not waited for.
    pub everywhere: bool,
    /// Followers that acknowledged.
    pub acknowledged: u32,
    /// Followers whose lease ran out instead (they serve nothing from cache until current).
    pub lapsed: Vec<String>,
}

impl Client {
    /// Opens a session (no caller token needed). Never repeated: a retry could count as a
    /// second failed attempt towards the lock-out.
    ///
    /// ```no_run
    /// use tessera_client::{Client, Login, Reason, Secret};
    ///
    /// # async fn example(client: Client) -> Result<(), tessera_client::Error> {
    /// match client.login(Login::new("alice", Secret::new("password".into()))).await {
    ///     Ok(session) => println!("session {} for {}", session.token_id, session.user.username),
    ///     Err(e) if e.reason() == Reason::MfaRequired => println!("TOTP code needed"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn login(&self, login: Login) -> Result<Session, Error> {
        let message = pb::LoginRequest {
            username: login.username,
            password: login.password.expose().to_owned(),
            totp_code: login
                .totp_code
                .map(|c| c.expose().to_owned())
                .unwrap_or_default(),
        };
        let client_address = login
            .client_address
            .and_then(|ip| tonic::metadata::MetadataValue::try_from(ip.to_string()).ok());
        self.unary(Repeat::Unsafe, message, |channel, mut request| {
            if let Some(address) = &client_address {
                request
                    .metadata_mut()
                    .insert(tessera_proto::CLIENT_ADDRESS_HEADER, address.clone());
            }
            async move { AuthServiceClient::new(channel).login(request).await }
        })
        .await
        .map(Session::from)
    }

    /// Elevates the calling session ("sudo mode"): a short-lived elevated child token.
    ///
    /// ```no_run
    /// use tessera_client::{Client, Secret, Unlock};
    ///
    /// # async fn example(session: Client) -> Result<(), tessera_client::Error> {
    /// let elevated = session.unlock(Unlock::new(Secret::new("root password".into()))).await?;
    /// let admin = session.with_token(elevated.token.expose())?;
    /// # let _ = admin; Ok(()) }
    /// ```
    pub async fn unlock(&self, unlock: Unlock) -> Result<IssuedToken, Error> {
        let message = pb::UnlockRequest {
            password: unlock.password.expose().to_owned(),
            totp_code: unlock
                .totp_code
                .map(|c| c.expose().to_owned())
                .unwrap_or_default(),
            ttl: unlock
                .ttl
                .map(|ttl| ttl.to_wire())
                .transpose()?
                .unwrap_or_default(),
        };
        self.unary(Repeat::Unsafe, message, |channel, request| async move {
            AuthServiceClient::new(channel).unlock(request).await
        })
        .await
        .map(IssuedToken::from)
    }

    /// Revokes a token, a session or an account's tokens, and everything derived from them;
    /// answers how many tokens were revoked. Safe to repeat.
    ///
    /// ```no_run
    /// use tessera_client::{Client, RevokeTarget};
    ///
    /// # async fn example(client: Client) -> Result<(), tessera_client::Error> {
    /// let revoked = client
    ///     .revoke(RevokeTarget::TokenId("tok_123".into()), "leaked in a log")
    ///     .await?;
    /// println!("{revoked} tokens revoked");
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, target: RevokeTarget, reason: &str) -> Result<u64, Error> {
        Ok(self.revoke_everywhere(target, reason, true).await?.count)
    }

    /// Revokes like [`Client::revoke`] and says how far the revocation reached: with `wait`, the
    /// answer comes once every follower of the revocation feed acknowledged it or its lease ran
    /// out (the default of [`Client::revoke`]); without, right after the commit.
    pub async fn revoke_everywhere(
        &self,
        target: RevokeTarget,
        reason: &str,
        wait: bool,
    ) -> Result<Revoked, Error> {
        use pb::revoke_request::Target;
        let message = pb::RevokeRequest {
            target: Some(match target {
                RevokeTarget::Token(token) => Target::Token(token.expose().to_owned()),
                RevokeTarget::TokenId(id) => Target::TokenId(id),
                RevokeTarget::SessionId(id) => Target::SessionId(id),
                RevokeTarget::Subject(subject) => Target::Subject(subject),
                RevokeTarget::TokenIds(ids) => Target::TokenIds(pb::TokenIds { ids }),
            }),
            reason: reason.to_owned(),
            no_wait: !wait,
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AuthServiceClient::new(channel).revoke(request).await
        })
        .await
        .map(|r| Revoked {
            count: r.revoked_count,
            everywhere: r.everywhere,
            acknowledged: r.acknowledged,
            lapsed: r.lapsed,
        })
    }

    /// Issues a token derived from the caller's. Never repeated: a retry could mint a second
    /// token and spend the caller's uses.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tessera_client::{Client, IssueToken};
    ///
    /// # async fn example(client: Client) -> Result<(), tessera_client::Error> {
    /// let issued = client
    ///     .issue_token(IssueToken::new(Duration::from_secs(3600)).namespace("deploy."))
    ///     .await?;
    /// println!("{} expires at {:?}", issued.token_id, issued.expires_at);
    /// # Ok(()) }
    /// ```
    pub async fn issue_token(&self, request: IssueToken) -> Result<IssuedToken, Error> {
        let message = request.into_wire()?;
        self.unary(Repeat::Unsafe, message, |channel, request| async move {
            AuthServiceClient::new(channel).issue_token(request).await
        })
        .await
        .map(IssuedToken::from)
    }

    /// Introspects `token`, counting one use of a limited-use token (so never repeated). The
    /// caller needs `introspect`.
    ///
    /// ```no_run
    /// # async fn example(service: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let answer = service.introspect("tsr_api_…").await?;
    /// if answer.active {
    ///     println!("{} in {}", answer.username, answer.namespace);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn introspect(&self, token: &str) -> Result<Introspection, Error> {
        self.introspect_as(token, false).await
    }

    /// Introspects `token` without counting a use (safe to repeat).
    ///
    /// ```no_run
    /// # async fn example(service: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let active = service.peek("tsr_api_…").await?.active;
    /// # let _ = active; Ok(()) }
    /// ```
    pub async fn peek(&self, token: &str) -> Result<Introspection, Error> {
        self.introspect_as(token, true).await
    }

    async fn introspect_as(&self, token: &str, peek: bool) -> Result<Introspection, Error> {
        let message = pb::IntrospectRequest {
            token: token.to_owned(),
            peek,
        };
        let repeat = if peek { Repeat::Safe } else { Repeat::Unsafe };
        self.unary(repeat, message, |channel, request| async move {
            AuthServiceClient::new(channel).introspect(request).await
        })
        .await
        .map(Introspection::from)
    }

    /// May `token` touch these identifiers (and hold `action`, when not empty)? Never counts a
    /// use; safe to repeat.
    ///
    /// ```no_run
    /// # async fn example(service: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let decision = service
    ///     .check_namespace("tsr_api_…", ["deploy.daily", "backup.nightly"], "")
    ///     .await?;
    /// for result in &decision.results {
    ///     println!("{}: {}", result.identifier, result.allowed);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_namespace<I, S>(
        &self,
        token: &str,
        identifiers: I,
        action: &str,
    ) -> Result<NamespaceDecision, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let message = pb::CheckNamespaceRequest {
            token: token.to_owned(),
            identifiers: identifiers.into_iter().map(Into::into).collect(),
            action: action.to_owned(),
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AuthServiceClient::new(channel)
                .check_namespace(request)
                .await
        })
        .await
        .map(NamespaceDecision::from)
    }

    /// The public keys JWTs are signed with.
    ///
    /// ```no_run
    /// # async fn example(client: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let jwks = client.jwks().await?;
    /// std::fs::write("jwks.json", &jwks.json).ok();
    /// # Ok(()) }
    /// ```
    pub async fn jwks(&self) -> Result<Jwks, Error> {
        self.unary(
            Repeat::Safe,
            pb::GetJwksRequest {},
            |channel, request| async move { AuthServiceClient::new(channel).get_jwks(request).await },
        )
        .await
        .map(Jwks::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_whole_seconds_in_the_servers_grammar() {
        assert_eq!(ttl_text(Duration::from_secs(900), "ttl").unwrap(), "900s");
        assert_eq!(ttl_text(Duration::from_millis(1500), "ttl").unwrap(), "1s");
        let error = ttl_text(Duration::from_millis(999), "ttl").unwrap_err();
        assert_eq!(error.reason(), Reason::InvalidArgument);
        assert_eq!(error.field(), Some("ttl"));
    }

    #[test]
    fn issue_requests_reach_the_wire_as_asked() {
        let wire = IssueToken::new(Duration::from_secs(60))
            .namespace("deploy.")
            .permission("introspect")
            .max_uses(2)
            .service()
            .jwt()
            .into_wire()
            .unwrap();
        assert_eq!(wire.ttl, "60s");
        assert_eq!(wire.max_uses, 2);
        assert_eq!(wire.namespace, "deploy.");
        assert_eq!(wire.permissions, ["introspect"]);
        assert_eq!(wire.token_type, pb::TokenType::Service as i32);
        assert_eq!(wire.format, pb::TokenFormat::Jwt as i32);
    }
}
