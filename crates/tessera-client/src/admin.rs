//! AdminService calls: accounts, TOTP enrolment, token listings and the audit trail. Each needs
//! a caller with admin rights (an admin-role session, or an elevated token).

use tessera_proto::v1::admin_service_client::AdminServiceClient;
use time::OffsetDateTime;

use crate::client::{Client, Repeat};
use crate::error::Error;
use crate::pb;
use crate::secret::Secret;
use crate::types::{kind_from_wire, time_of, timestamp_of, TokenKind, User};

/// A new account.
///
/// ```
/// use tessera_client::{NewUser, Secret};
///
/// let bob = NewUser::new("bob", "user", Secret::new("a long passphrase".into())).display_name("Bob");
/// # let _ = bob;
/// ```
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// `user`, `admin`, `owner`, `superuser` or `root`.
    pub role: String,
    /// Initial password.
    pub password: Secret,
}

impl NewUser {
    /// An account with this name, role and password.
    pub fn new(username: impl Into<String>, role: impl Into<String>, password: Secret) -> NewUser {
        NewUser {
            username: username.into(),
            display_name: String::new(),
            role: role.into(),
            password,
        }
    }

    /// With a display name.
    pub fn display_name(mut self, name: impl Into<String>) -> NewUser {
        self.display_name = name.into();
        self
    }
}

/// An account as listed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSummary {
    /// The account.
    pub user: User,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Until when it is locked after failed logins.
    pub locked_until: Option<OffsetDateTime>,
    /// When it was created.
    pub created_at: Option<OffsetDateTime>,
}

impl From<pb::UserSummary> for UserSummary {
    fn from(s: pb::UserSummary) -> Self {
        UserSummary {
            user: s.user.map(User::from).unwrap_or_default(),
            disabled: s.disabled,
            locked_until: time_of(s.locked_until.as_ref()),
            created_at: time_of(s.created_at.as_ref()),
        }
    }
}

/// One page of a listing; ask again with `next_page_token` while it is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; empty on the last page.
    pub next_page_token: String,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenInfo {
    /// Public id.
    pub token_id: String,
    /// Kind.
    pub kind: Option<TokenKind>,
    /// Account id.
    pub subject: String,
    /// The token it derives from.
    pub parent_id: String,
    /// Its session.
    pub session_id: String,
    /// Namespace.
    pub namespace: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Whether elevated.
    pub elevated: bool,
    /// Description.
    pub description: String,
    /// Issued at.
    pub issued_at: Option<OffsetDateTime>,
    /// Expires at.
    pub expires_at: Option<OffsetDateTime>,
    /// Uses left, when limited.
    pub uses_remaining: Option<u32>,
    /// Use limit, when limited.
    pub max_uses: Option<u32>,
    /// When revoked, if it is.
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<pb::TokenInfo> for TokenInfo {
    fn from(t: pb::TokenInfo) -> Self {
        TokenInfo {
            token_id: t.token_id,
            kind: kind_from_wire(t.token_type),
            subject: t.subject,
            parent_id: t.parent_id,
            session_id: t.session_id,
            namespace: t.namespace,
            permissions: t.permissions,
            elevated: t.elevated,
            description: t.description,
            issued_at: time_of(t.issued_at.as_ref()),
            expires_at: time_of(t.expires_at.as_ref()),
            uses_remaining: t.uses_remaining,
            max_uses: t.max_uses,
            revoked_at: time_of(t.revoked_at.as_ref()),
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEvent {
    /// Sequence id.
    pub id: i64,
    /// When.
    pub at: Option<OffsetDateTime>,
    /// What (`login`, `issue`, `revoke`…).
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who acted.
    pub actor: String,
    /// The account concerned.
    pub username: String,
    /// The token concerned.
    pub token_id: String,
    /// Details, as JSON.
    pub detail_json: String,
}

impl From<pb::AuditEvent> for AuditEvent {
    fn from(e: pb::AuditEvent) -> Self {
        AuditEvent {
            id: e.id,
            at: time_of(e.at.as_ref()),
            action: e.action,
            outcome: e.outcome,
            actor: e.actor,
            username: e.username,
            token_id: e.token_id,
            detail_json: e.detail_json,
        }
    }
}

/// Which audit events to list.
///
/// ```
/// use tessera_client::AuditQuery;
///
/// let failed_logins = AuditQuery { action: "login".into(), page_size: 50, ..Default::default() };
/// # let _ = failed_logins;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only events by this actor.
    pub actor: String,
    /// Only this action.
    pub action: String,
    /// Not before.
    pub since: Option<OffsetDateTime>,
    /// Not after.
    pub until: Option<OffsetDateTime>,
    /// Events per page (0: the server's default).
    pub page_size: u32,
    /// Where to continue.
    pub page_token: String,
}

/// A TOTP enrolment begun: show the URI (as a QR code) once, then confirm with a code.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    /// The seed, to pass back to [`Client::confirm_totp_enrollment`].
    pub secret: Secret,
    /// `otpauth://` URI for authenticator apps (it holds the seed).
    pub otpauth_uri: Secret,
}

impl Client {
    /// Creates an account. Never repeated (a retry would answer `USER_EXISTS`).
    ///
    /// ```no_run
    /// use tessera_client::{Client, NewUser, Secret};
    ///
    /// # async fn example(admin: Client) -> Result<(), tessera_client::Error> {
    /// let user = admin.create_user(NewUser::new("bob", "user", Secret::new("passphrase".into()))).await?;
    /// println!("created {}", user.user_id);
    /// # Ok(()) }
    /// ```
    pub async fn create_user(&self, user: NewUser) -> Result<User, Error> {
        let message = pb::CreateUserRequest {
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            password: user.password.expose().to_owned(),
        };
        self.unary(Repeat::Unsafe, message, |channel, request| async move {
            AdminServiceClient::new(channel).create_user(request).await
        })
        .await
        .map(|r| r.user.map(User::from).unwrap_or_default())
    }

    /// One page of accounts.
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let mut page_token = String::new();
    /// loop {
    ///     let page = admin.list_users(100, &page_token).await?;
    ///     for summary in &page.items {
    ///         println!("{} {}", summary.user.username, summary.user.role);
    ///     }
    ///     if page.next_page_token.is_empty() { break; }
    ///     page_token = page.next_page_token;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_users(
        &self,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<UserSummary>, Error> {
        let message = pb::ListUsersRequest {
            page_size,
            page_token: page_token.to_owned(),
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel).list_users(request).await
        })
        .await
        .map(|r| Page {
            items: r.users.into_iter().map(UserSummary::from).collect(),
            next_page_token: r.next_page_token,
        })
    }

    /// Disables (revoking its tokens) or enables an account.
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let bob = admin.set_user_disabled("bob", true).await?;
    /// assert!(bob.disabled);
    /// # Ok(()) }
    /// ```
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<UserSummary, Error> {
        let message = pb::SetUserDisabledRequest {
            username: username.to_owned(),
            disabled,
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel)
                .set_user_disabled(request)
                .await
        })
        .await
        .map(|r| r.user.map(UserSummary::from).unwrap_or_default())
    }

    /// Changes an account's role (its tokens issued before are no longer active).
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// admin.set_role("bob", "admin").await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_role(&self, username: &str, role: &str) -> Result<User, Error> {
        let message = pb::SetRoleRequest {
            username: username.to_owned(),
            role: role.to_owned(),
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel).set_role(request).await
        })
        .await
        .map(|r| r.user.map(User::from).unwrap_or_default())
    }

    /// Sets an account's password (its sessions and tokens are revoked).
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// admin.set_password("bob", tessera_client::Secret::new("new passphrase".into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_password(&self, username: &str, password: Secret) -> Result<(), Error> {
        let message = pb::SetPasswordRequest {
            username: username.to_owned(),
            password: password.expose().to_owned(),
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel).set_password(request).await
        })
        .await
        .map(|_| ())
    }

    /// Begins TOTP enrolment for an account.
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let begun = admin.begin_totp_enrollment("bob").await?;
    /// // show begun.otpauth_uri as a QR code, read the code the app shows, then:
    /// admin.confirm_totp_enrollment("bob", &begun.secret, "123456").await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin_totp_enrollment(&self, username: &str) -> Result<TotpEnrollment, Error> {
        let message = pb::BeginTotpEnrollmentRequest {
            username: username.to_owned(),
        };
        self.unary(Repeat::Unsafe, message, |channel, request| async move {
            AdminServiceClient::new(channel)
                .begin_totp_enrollment(request)
                .await
        })
        .await
        .map(|r| TotpEnrollment {
            secret: Secret::new(r.secret),
            otpauth_uri: Secret::new(r.otpauth_uri),
        })
    }

    /// Confirms TOTP enrolment with a code from the authenticator app.
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client, begun: tessera_client::TotpEnrollment) -> Result<(), tessera_client::Error> {
    /// let bob = admin.confirm_totp_enrollment("bob", &begun.secret, "123456").await?;
    /// assert!(bob.totp_enabled);
    /// # Ok(()) }
    /// ```
    pub async fn confirm_totp_enrollment(
        &self,
        username: &str,
        secret: &Secret,
        code: &str,
    ) -> Result<User, Error> {
        let message = pb::ConfirmTotpEnrollmentRequest {
            username: username.to_owned(),
            secret: secret.expose().to_owned(),
            code: code.to_owned(),
        };
        self.unary(Repeat::Unsafe, message, |channel, request| async move {
            AdminServiceClient::new(channel)
                .confirm_totp_enrollment(request)
                .await
        })
        .await
        .map(|r| r.user.map(User::from).unwrap_or_default())
    }

    /// Removes TOTP from an account.
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// admin.remove_totp("bob").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_totp(&self, username: &str) -> Result<User, Error> {
        let message = pb::RemoveTotpRequest {
            username: username.to_owned(),
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel).remove_totp(request).await
        })
        .await
        .map(|r| r.user.map(User::from).unwrap_or_default())
    }

    /// An account's tokens (active ones, or all with `include_inactive`).
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// for token in admin.list_tokens("bob", false).await? {
    ///     println!("{} {} {}", token.token_id, token.kind.map_or("-", |kind| kind.as_str()), token.namespace);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_tokens(
        &self,
        username: &str,
        include_inactive: bool,
    ) -> Result<Vec<TokenInfo>, Error> {
        let message = pb::ListTokensRequest {
            username: username.to_owned(),
            include_inactive,
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel).list_tokens(request).await
        })
        .await
        .map(|r| r.tokens.into_iter().map(TokenInfo::from).collect())
    }

    /// One token by its public id.
    ///
    /// ```no_run
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let token = admin.get_token("tok_123").await?;
    /// println!("revoked at {:?}", token.revoked_at);
    /// # Ok(()) }
    /// ```
    pub async fn get_token(&self, token_id: &str) -> Result<TokenInfo, Error> {
        let message = pb::GetTokenRequest {
            token_id: token_id.to_owned(),
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel).get_token(request).await
        })
        .await
        .map(|r| r.token.map(TokenInfo::from).unwrap_or_default())
    }

    /// One page of the audit trail.
    ///
    /// ```no_run
    /// use tessera_client::AuditQuery;
    ///
    /// # async fn example(admin: tessera_client::Client) -> Result<(), tessera_client::Error> {
    /// let page = admin.list_audit_events(AuditQuery { action: "revoke".into(), ..Default::default() }).await?;
    /// for event in page.items {
    ///     println!("{:?} {} {} {}", event.at, event.actor, event.action, event.outcome);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_audit_events(&self, query: AuditQuery) -> Result<Page<AuditEvent>, Error> {
        let message = pb::ListAuditEventsRequest {
            actor: query.actor,
            action: query.action,
            since: query.since.map(timestamp_of),
            until: query.until.map(timestamp_of),
            page_size: query.page_size,
            page_token: query.page_token,
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AdminServiceClient::new(channel)
                .list_audit_events(request)
                .await
        })
        .await
        .map(|r| Page {
            items: r.events.into_iter().map(AuditEvent::from).collect(),
            next_page_token: r.next_page_token,
        })
    }
}
