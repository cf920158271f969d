//! The operator CLI over gRPC: `tessera user|totp|token|audit …` against a running server, with a
//! readable table by default and `--json` on request. Errors print the server's reason and a hint,
//! and the process exits non-zero.

use std::{io::IsTerminal as _, path::PathBuf, time::Duration};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tessera_core::{token::check_format, ttl::parse_ttl};
use tessera_proto::v1::{
    self as pb, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use tonic::{metadata::MetadataValue, transport::Channel, Request};
use tonic_types::StatusExt as _;

mod address;
pub use address::ServerAddress;

/// Where `--server` points when neither the flag nor TESSERA_SERVER says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// How to reach the server and who is asking; every remote command (and its subcommands) takes
/// these, and only those commands show them.
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// Tessera's gRPC address: host:port, http://host:port (plaintext) or https://host:port (TLS)
    /// [default: http://127.0.0.1:50051].
    #[arg(long, env = "TESSERA_SERVER", global = true)]
    pub server: Option<String>,
    /// Bearer token to act with (prefer TESSERA_TOKEN or --token-file: argv is visible to other
    /// users). Without one, the session stored by `tessera login` for --server is used.
    #[arg(long, env = "TESSERA_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// File whose first line is the bearer token.
    #[arg(long, env = "TESSERA_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// Where `tessera login` keeps sessions [default: ~/.config/tessera/credentials.json].
    #[arg(long, env = "TESSERA_CREDENTIALS_FILE", global = true)]
    pub credentials_file: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The same flags written before the command (`tessera --server … user list`), hidden.
#[derive(Debug, Clone, Default, Args)]
pub struct LeadingRemoteArgs {
    #[arg(long = "server", hide = true)]
    pub server: Option<String>,
    #[arg(long = "token", hide = true)]
    pub token: Option<String>,
    #[arg(long = "token-file", hide = true)]
    pub token_file: Option<PathBuf>,
    #[arg(long = "credentials-file", hide = true)]
    pub credentials_file: Option<PathBuf>,
    #[arg(long = "json", hide = true)]
    pub json: bool,
}

impl RemoteArgs {
    /// These flags, completed by the ones written before the command.
    pub fn or(mut self, leading: &LeadingRemoteArgs) -> RemoteArgs {
        self.server = self.server.or_else(|| leading.server.clone());
        self.token = self.token.or_else(|| leading.token.clone());
        self.token_file = self.token_file.or_else(|| leading.token_file.clone());
        self.credentials_file = self
            .credentials_file
            .or_else(|| leading.credentials_file.clone());
        self.json |= leading.json;
        self
    }

    /// The checked `--server`.
    pub fn address(&self) -> anyhow::Result<ServerAddress> {
        let text = self.server.as_deref().unwrap_or(DEFAULT_SERVER);
        ServerAddress::parse(text).map_err(|e| anyhow::anyhow!("--server (TESSERA_SERVER): {e}"))
    }

    /// The token given explicitly (--token, TESSERA_TOKEN, --token-file), if any.
    pub fn explicit_token(&self) -> anyhow::Result<Option<String>> {
        Ok(match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --token-file {}", path.display()))?;
                Some(text.lines().next().unwrap_or_default().trim().to_owned())
            }
            (None, None) => None,
        })
    }
}

/// `tessera totp …`.
#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Enroll TOTP for an account: prints the otpauth:// URI and a QR code, then asks for a first
    /// code from the authenticator to confirm (or takes it from --code).
    Enroll {
        /// The account.
        username: String,
        /// The confirming code, instead of a prompt.
        #[arg(long)]
        code: Option<String>,
    },
    /// Remove an account's TOTP.
    Remove {
        /// The account.
        username: String,
    },
}

/// `tessera audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the most recent audit events, newest first.
    Tail(AuditTailArgs),
}

/// Filters of `audit tail`.
#[derive(Debug, Args)]
pub struct AuditTailArgs {
    /// Only events by this account id.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (login, unlock, issue, revoke, lockout, user.create, …; a name the server
    /// never writes is refused with the list).
    #[arg(long)]
    pub action: Option<String>,
    /// Only events newer than this, e.g. 1h.
    #[arg(long)]
    pub since: Option<String>,
    /// How many events.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
}

/// Flags of `token issue`.
#[derive(Debug, Args)]
pub struct TokenIssueArgs {
    /// Lifetime, e.g. 15m, 7d (default: the server's, capped by your token).
    #[arg(long)]
    pub ttl: Option<String>,
    /// Use limit (1 = single-use).
    #[arg(long)]
    pub max_uses: Option<u32>,
    /// Single-use (same as --max-uses 1).
    #[arg(long, conflicts_with = "max_uses")]
    pub single_use: bool,
    /// Namespace prefix the token may touch, or * (default: yours).
    #[arg(long)]
    pub namespace: Option<String>,
    /// A permission to grant (repeatable; default: yours).
    #[arg(long = "permission", short = 'p')]
    pub permissions: Vec<String>,
    /// Free text shown in listings.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Issue a least-privileged service token (refused if it would hold admin rights).
    #[arg(long)]
    pub service: bool,
    /// Issue a signed JWT instead of an opaque token.
    #[arg(long)]
    pub jwt: bool,
}

/// What `token revoke` names.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token id to revoke (with everything derived from it).
    pub token_id: Option<String>,
    /// Revoke every token of this session id instead.
    #[arg(long, conflicts_with_all = ["token_id", "user", "secret_stdin"])]
    pub session: Option<String>,
    /// Revoke every token of this account id instead.
    #[arg(long, conflicts_with_all = ["token_id", "secret_stdin"])]
    pub user: Option<String>,
    /// Read a token secret from standard input and revoke that token.
    #[arg(long, conflicts_with = "token_id")]
    pub secret_stdin: bool,
    /// Why (kept in the audit trail).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// A connected client pair with the caller's token.
pub struct Remote {
    channel: Channel,
    token: Option<String>,
    /// Whether to print JSON.
    pub json: bool,
}

impl Remote {
    /// Connects to `--server`, acting with --token, TESSERA_TOKEN or --token-file, else with the
    /// session `tessera login` stored for that server (its elevated token while one lasts).
    pub async fn connect(args: &RemoteArgs) -> anyhow::Result<Remote> {
        let address = args.address()?;
        let token = match args.explicit_token()? {
            Some(token) => Some(token),
            None => crate::session::Credentials::load(args)?.active_token(&address),
        };
        Self::connect_with(&address, token, args.json).await
    }

    /// Connects to `address` acting with `token`.
    pub async fn connect_with(
        address: &ServerAddress,
        token: Option<String>,
        json: bool,
    ) -> anyhow::Result<Remote> {
        if address.tls {
            bail!(
                "--server {address}: this tessera build has no TLS client; reach the server over \
                 http:// on a trusted network (or through a TLS tunnel such as stunnel)"
            );
        }
        let endpoint = address.uri();
        let channel = Channel::from_shared(endpoint.clone())
            .with_context(|| format!("--server {endpoint:?} is not a URL"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Tessera at {endpoint}: {e}\nhint: is the server running? (scripts/dev.sh, tessera serve); set --server or TESSERA_SERVER"))?;
        Ok(Remote {
            channel,
            token,
            json,
        })
    }

    /// Whether a token is at hand.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub(crate) fn request<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        let mut request = Request::new(message);
        if let Some(token) = &self.token {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().map_err(|_| {
                anyhow::anyhow!("the token contains characters that cannot be sent")
            })?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }

    pub(crate) fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }

    pub(crate) fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    fn print(&self, value: Value, table: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        } else {
            print!("{}", table());
        }
    }
}

/// Turns a gRPC failure into a message with the server's reason and a hint.
pub fn explain(status: tonic::Status) -> anyhow::Error {
    let details = status.get_error_details();
    let info = details.error_info();
    let reason = info.map(|i| i.reason.as_str()).unwrap_or("");
    let hint = match reason {
        "AUTH_REQUIRED" => "log in with `tessera login`, or pass a token with --token-file, TESSERA_TOKEN or --token",
        "AUTH_FAILED" => "the token is invalid, expired, revoked or used up; log in again with `tessera login`",
        "INVALID_CREDENTIALS" => "wrong username, password or TOTP code",
        "MFA_REQUIRED" => "the account has TOTP: give the current code",
        "ACCOUNT_LOCKED" => "too many failed attempts; wait for the lockout to pass, or ask an admin (`tessera user passwd`)",
        "AUTH_DENIED" => "the token lacks the permission or namespace this needs",
        "ELEVATION_REQUIRED" => "elevate first with `tessera unlock`, or use an admin account's session",
        "PRIVILEGE_EXCEEDED" => "ask for no more than your own token holds",
        "OVER_PRIVILEGED" => {
            "name only the permissions the service needs, e.g. --permission introspect"
        }
        "USER_NOT_FOUND" => "list accounts with `tessera user list`",
        "USER_EXISTS" => "pick another username",
        "TOKEN_NOT_FOUND" => "list tokens with `tessera token list`",
        "INVALID_ARGUMENT" => "see `--help` for the accepted values",
        "UNAVAILABLE" => "Tessera or its PostgreSQL is unreachable; try again shortly",
        _ => "",
    };
    let field = info
        .and_then(|i| i.metadata.get("field"))
        .map(|f| format!(" (field {f})"))
        .unwrap_or_default();
    let label = if reason.is_empty() {
        format!("{:?}", status.code())
    } else {
        reason.to_owned()
    };
    if hint.is_empty() {
        anyhow::anyhow!("{label}{field}: {}", status.message())
    } else {
        anyhow::anyhow!("{label}{field}: {}\nhint: {hint}", status.message())
    }
}

fn time_text(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

fn kind_name(kind: i32) -> &'static str {
    match pb::TokenType::try_from(kind).unwrap_or(pb::TokenType::Unspecified) {
        pb::TokenType::Session => "session",
        pb::TokenType::Elevated => "elevated",
        pb::TokenType::Api => "api",
        pb::TokenType::Service => "service",
        pb::TokenType::Static => "static",
        pb::TokenType::Master => "master",
        pb::TokenType::Unspecified => "-",
    }
}

/// Lays out rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ");
        out.truncate(out.trim_end().len());
        out + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn user_json(user: &pb::User) -> Value {
    json!({
        "user_id": user.user_id, "username": user.username, "display_name": user.display_name,
        "role": user.role, "totp_enabled": user.totp_enabled,
    })
}

fn token_json(token: &pb::TokenInfo) -> Value {
    json!({
        "token_id": token.token_id, "kind": kind_name(token.token_type), "subject": token.subject,
        "parent_id": token.parent_id, "session_id": token.session_id, "namespace": token.namespace,
        "permissions": token.permissions, "elevated": token.elevated, "description": token.description,
        "issued_at": time_text(token.issued_at.as_ref()), "expires_at": token.expires_at.as_ref().map(|t| time_text(Some(t))),
        "uses_remaining": token.uses_remaining, "max_uses": token.max_uses,
        "revoked_at": token.revoked_at.as_ref().map(|t| time_text(Some(t))),
    })
}

/// Why a listed token is (in)active, as far as the listing tells.
fn token_state(token: &pb::TokenInfo) -> &'static str {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if token.revoked_at.is_some() {
        "revoked"
    } else if token
        .expires_at
        .as_ref()
        .is_some_and(|at| at.seconds <= now)
    {
        "expired"
    } else if token.uses_remaining == Some(0) {
        "used up"
    } else {
        "active"
    }
}

fn token_rows(tokens: &[pb::TokenInfo]) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.token_id.clone(),
                kind_name(t.token_type).into(),
                t.namespace.clone(),
                t.permissions.join(","),
                time_text(t.expires_at.as_ref()),
                t.uses_remaining
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                if t.parent_id.is_empty() {
                    "-".into()
                } else {
                    t.parent_id.clone()
                },
                token_state(t).into(),
                t.description.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TOKEN ID",
            "KIND",
            "NAMESPACE",
            "PERMISSIONS",
            "EXPIRES",
            "USES LEFT",
            "PARENT",
            "STATE",
            "DESCRIPTION",
        ],
        &rows,
    )
}

/// Reads a secret from stdin (first line) or, on a terminal, a hidden prompt.
pub fn read_secret(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password(format!("{prompt}: "))?)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `tessera user add` over gRPC.
pub async fn user_add(
    remote: &Remote,
    username: &str,
    display_name: &str,
    role: &str,
    password: String,
) -> anyhow::Result<()> {
    let user = remote
        .admin()
        .create_user(remote.request(pb::CreateUserRequest {
            username: username.into(),
            display_name: display_name.into(),
            role: role.into(),
            password,
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .user
        .unwrap_or_default();
    remote.print(user_json(&user), || {
        format!(
            "created user {} ({}) with id {}\n",
            user.username, user.role, user.user_id
        )
    });
    Ok(())
}

/// `tessera user list`.
pub async fn user_list(remote: &Remote) -> anyhow::Result<()> {
    let mut users = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = remote
            .admin()
            .list_users(remote.request(pb::ListUsersRequest {
                page_size: 500,
                page_token,
            })?)
            .await
            .map_err(explain)?
            .into_inner();
        users.extend(page.users);
        if page.next_page_token.is_empty() || users.len() >= 100_000 {
            break;
        }
        page_token = page.next_page_token;
    }
    let value = Value::Array(
        users
            .iter()
            .map(|u| {
                let mut v = user_json(u.user.as_ref().unwrap_or(&pb::User::default()));
                v["disabled"] = json!(u.disabled);
                v["locked_until"] = json!(u.locked_until.as_ref().map(|t| time_text(Some(t))));
                v["created_at"] = json!(time_text(u.created_at.as_ref()));
                v
            })
            .collect(),
    );
    remote.print(value, || {
        let rows: Vec<Vec<String>> = users
            .iter()
            .map(|u| {
                let user = u.user.clone().unwrap_or_default();
                let state = if u.disabled {
                    "disabled"
                } else if u.locked_until.is_some() {
                    "locked"
                } else {
                    "active"
                };
                vec![
                    user.username,
                    user.role,
                    if user.totp_enabled {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    state.into(),
                    user.user_id,
                ]
            })
            .collect();
        table(&["USERNAME", "ROLE", "TOTP", "STATE", "ID"], &rows)
    });
    Ok(())
}

/// `tessera user disable|enable`.
pub async fn user_disable(remote: &Remote, username: &str, disabled: bool) -> anyhow::Result<()> {
    let user = remote
        .admin()
        .set_user_disabled(remote.request(pb::SetUserDisabledRequest {
            username: username.into(),
            disabled,
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .user
        .unwrap_or_default();
    let name = user.user.map(|u| u.username).unwrap_or_default();
    let verb = if disabled {
        "disabled (its tokens are revoked)"
    } else {
        "enabled"
    };
    remote.print(json!({"username": name, "disabled": user.disabled}), || {
        format!("{name} {verb}\n")
    });
    Ok(())
}

/// `tessera user role`.
pub async fn user_role(remote: &Remote, username: &str, role: &str) -> anyhow::Result<()> {
    let user = remote
        .admin()
        .set_role(remote.request(pb::SetRoleRequest {
            username: username.into(),
            role: role.into(),
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .user
        .unwrap_or_default();
    remote.print(user_json(&user), || {
        format!("{} is now {}\n", user.username, user.role)
    });
    Ok(())
}

/// `tessera user passwd`.
pub async fn user_passwd(remote: &Remote, username: &str, password: String) -> anyhow::Result<()> {
    remote
        .admin()
        .set_password(remote.request(pb::SetPasswordRequest {
            username: username.into(),
            password,
        })?)
        .await
        .map_err(explain)?;
    remote.print(
        json!({"username": username, "password_changed": true}),
        || format!("password of {username} changed; its sessions and tokens are revoked\n"),
    );
    Ok(())
}

/// `tessera totp enroll`.
pub async fn totp_enroll(
    remote: &Remote,
    username: &str,
    code: Option<String>,
) -> anyhow::Result<()> {
    let begun = remote
        .admin()
        .begin_totp_enrollment(remote.request(pb::BeginTotpEnrollmentRequest {
            username: username.into(),
        })?)
        .await
        .map_err(explain)?
        .into_inner();
    // The URI goes to stderr with the QR code when a code will be prompted for, so stdout stays
    // clean for --json; both are shown once.
    eprintln!(
        "Add this to the authenticator app of {username} (shown once):\n  {}\n",
        begun.otpauth_uri
    );
    if let Ok(qr) = qrcode::QrCode::new(begun.otpauth_uri.as_bytes()) {
        eprintln!(
            "{}",
            qr.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        );
    }
    let code = match code {
        Some(code) => code,
        None => {
            eprint!("Enter the 6-digit code it shows to confirm: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_owned()
        }
    };
    let user = remote
        .admin()
        .confirm_totp_enrollment(remote.request(pb::ConfirmTotpEnrollmentRequest {
            username: username.into(),
            secret: begun.secret.clone(),
            code,
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .user
        .unwrap_or_default();
    remote.print(
        json!({"username": user.username, "totp_enabled": user.totp_enabled, "otpauth_uri": begun.otpauth_uri}),
        || format!("TOTP enrolled for {}\n", user.username),
    );
    Ok(())
}

/// `tessera totp remove`.
pub async fn totp_remove(remote: &Remote, username: &str) -> anyhow::Result<()> {
    let user = remote
        .admin()
        .remove_totp(remote.request(pb::RemoveTotpRequest {
            username: username.into(),
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .user
        .unwrap_or_default();
    remote.print(user_json(&user), || {
        format!("TOTP removed from {}\n", user.username)
    });
    Ok(())
}

/// `tessera token issue`.
pub async fn token_issue(remote: &Remote, args: TokenIssueArgs) -> anyhow::Result<()> {
    if let Some(ttl) = &args.ttl {
        parse_ttl(ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
    }
    let issued = remote
        .auth()
        .issue_token(remote.request(pb::IssueTokenRequest {
            ttl: args.ttl.unwrap_or_default(),
            max_uses: if args.single_use {
                1
            } else {
                args.max_uses.unwrap_or(0)
            },
            namespace: args.namespace.unwrap_or_default(),
            permissions: args.permissions,
            description: args.description,
            format: if args.jwt {
                pb::TokenFormat::Jwt
            } else {
                pb::TokenFormat::Opaque
            } as i32,
            token_type: if args.service {
                pb::TokenType::Service
            } else {
                pb::TokenType::Api
            } as i32,
        })?)
        .await
        .map_err(explain)?
        .into_inner();
    remote.print(
        json!({
            "token": issued.token, "token_id": issued.token_id,
            "expires_at": issued.expires_at.as_ref().map(|t| time_text(Some(t))),
            "namespace": issued.namespace, "permissions": issued.permissions, "max_uses": issued.max_uses,
        }),
        || {
            format!(
                "token     {}\ntoken id  {}\nexpires   {}\nnamespace {}\nperms     {}\nmax uses  {}\n(the token is shown only now)\n",
                issued.token,
                issued.token_id,
                time_text(issued.expires_at.as_ref()),
                issued.namespace,
                issued.permissions.join(","),
                issued.max_uses.map(|n| n.to_string()).unwrap_or_else(|| "unlimited".into()),
            )
        },
    );
    Ok(())
}

/// `tessera token list`.
pub async fn token_list(remote: &Remote, user: Option<String>, all: bool) -> anyhow::Result<()> {
    let tokens = remote
        .admin()
        .list_tokens(remote.request(pb::ListTokensRequest {
            username: user.unwrap_or_default(),
            include_inactive: all,
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .tokens;
    remote.print(
        Value::Array(tokens.iter().map(token_json).collect()),
        || token_rows(&tokens),
    );
    Ok(())
}

/// `tessera token show`.
pub async fn token_show(remote: &Remote, token_id: &str) -> anyhow::Result<()> {
    let token = remote
        .admin()
        .get_token(remote.request(pb::GetTokenRequest {
            token_id: token_id.into(),
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .token
        .unwrap_or_default();
    let value = token_json(&token);
    remote.print(value.clone(), || {
        let mut out = String::new();
        if let Value::Object(map) = &value {
            for (key, v) in map {
                let text = match v {
                    Value::String(s) if s.is_empty() => "-".to_owned(),
                    Value::String(s) => s.clone(),
                    Value::Null => "-".to_owned(),
                    other => other.to_string(),
                };
                out.push_str(&format!("{key:<15} {text}\n"));
            }
        }
        out
    });
    Ok(())
}

/// `tessera token revoke`.
pub async fn token_revoke(remote: &Remote, args: TokenRevokeArgs) -> anyhow::Result<()> {
    use pb::revoke_request::Target;
    let target = if args.secret_stdin {
        Target::Token(read_secret("Token to revoke")?)
    } else if let Some(session) = args.session {
        Target::SessionId(session)
    } else if let Some(user) = args.user {
        Target::Subject(user)
    } else if let Some(id) = args.token_id {
        Target::TokenId(id)
    } else {
        bail!("name what to revoke: a token id, --session, --user or --secret-stdin");
    };
    let revoked = remote
        .auth()
        .revoke(remote.request(pb::RevokeRequest {
            target: Some(target),
            reason: args.reason,
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .revoked_count;
    remote.print(json!({"revoked_count": revoked}), || {
        format!("revoked {revoked} token(s)\n")
    });
    Ok(())
}

/// `tessera token check`: offline grammar and checksum check.
pub fn token_check(token: Option<String>, json_out: bool) -> anyhow::Result<()> {
    let token = match token {
        Some(t) if t != "-" => t,
        _ => read_secret("Token to check")?,
    };
    let verdict = check_format(token.trim());
    if json_out {
        println!(
            "{}",
            json!({"well_formed": verdict.is_ok(), "kind": verdict.ok().map(|k| k.as_str()),
                   "problem": verdict.err().map(|e| e.to_string())})
        );
    }
    match verdict {
        Ok(kind) => {
            if !json_out {
                println!("well-formed Tessera {kind} token (checksum ok; whether it is active only the server can say)");
            }
            Ok(())
        }
        Err(problem) => bail!("not a well-formed Tessera token: {problem}"),
    }
}

/// Every action the server writes to the audit trail; `audit tail --action` takes one of these.
pub const AUDIT_ACTIONS: &[&str] = &[
    "bootstrap",
    "issue",
    "keys_rotate",
    "lockout",
    "login",
    "master.reset",
    "master.set",
    "revoke",
    "static_tokens.load",
    "totp.enroll",
    "totp.remove",
    "unlock",
    "user.create",
    "user.disable",
    "user.enable",
    "user.password",
    "user.role",
];

/// Refuses an action the server never writes: a typo would otherwise list nothing, silently.
pub fn check_audit_action(action: &str) -> anyhow::Result<()> {
    if AUDIT_ACTIONS.contains(&action) {
        return Ok(());
    }
    bail!(
        "--action {action:?} is not an audit action; known actions: {}",
        AUDIT_ACTIONS.join(", ")
    )
}

/// `tessera audit tail`.
pub async fn audit_tail(remote: &Remote, args: AuditTailArgs) -> anyhow::Result<()> {
    if let Some(action) = &args.action {
        check_audit_action(action)?;
    }
    let since = match &args.since {
        Some(ago) => {
            let ago = parse_ttl(ago).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let at = time::OffsetDateTime::now_utc() - ago;
            Some(prost_types::Timestamp {
                seconds: at.unix_timestamp(),
                nanos: 0,
            })
        }
        None => None,
    };
    let events = remote
        .admin()
        .list_audit_events(remote.request(pb::ListAuditEventsRequest {
            actor: args.actor.unwrap_or_default(),
            action: args.action.unwrap_or_default(),
            since,
            until: None,
            page_size: args.limit.clamp(1, 500),
            page_token: String::new(),
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .events;
    let value = Value::Array(
        events
            .iter()
            .map(|e| {
                json!({"id": e.id, "at": time_text(e.at.as_ref()), "action": e.action, "outcome": e.outcome,
                       "actor": e.actor, "username": e.username, "token_id": e.token_id,
                       "detail": serde_json::from_str::<Value>(&e.detail_json).unwrap_or(Value::Null)})
            })
            .collect(),
    );
    remote.print(value, || {
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                vec![
                    time_text(e.at.as_ref()),
                    e.action.clone(),
                    e.outcome.clone(),
                    if e.username.is_empty() {
                        "-".into()
                    } else {
                        e.username.clone()
                    },
                    e.detail_json.clone(),
                ]
            })
            .collect();
        table(&["AT", "ACTION", "OUTCOME", "USERNAME", "DETAIL"], &rows)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_and_trim_line_ends() {
        let out = table(
            &["A", "LONGER"],
            &[
                vec!["wide cell".into(), "x".into()],
                vec!["y".into(), "".into()],
            ],
        );
        assert_eq!(out, "A          LONGER\nwide cell  x\ny\n");
    }
}
