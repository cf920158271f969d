//! The operator CLI over gRPC: `tessera user|totp|token|audit …` against a running server, with a
//! readable table by default and `--json` on request. Errors print the server's reason and a hint,
//! and the process exits non-zero.

use std::{io::IsTerminal as _, time::Duration};

use anyhow::Context as _;
use serde_json::{json, Value};
use tessera_proto::v1::{
    self as pb, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use tonic::{metadata::MetadataValue, transport::Channel, Request};
use tonic_types::StatusExt as _;

mod address;
mod args;
mod audit;
mod tokens;
pub use address::{ClientTls, Dial, ServerAddress};
pub use args::{
    AuditCommand, AuditExportArgs, AuditTailArgs, LeadingRemoteArgs, RemoteArgs, TokenIssueArgs,
    TokenRevokeArgs, TotpCommand, DEFAULT_SERVER,
};
pub use audit::{audit_export, audit_tail, check_audit_action, AUDIT_ACTIONS};
pub use tokens::{token_check, token_issue, token_list, token_revoke, token_show};

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
        Self::connect_with(&address, &args.client_tls(), token, args.json).await
    }

    /// Connects to `address` (over TLS verified per `tls` for https://) acting with `token`.
    pub async fn connect_with(
        address: &ServerAddress,
        tls: &ClientTls,
        token: Option<String>,
        json: bool,
    ) -> anyhow::Result<Remote> {
        let endpoint = address.uri();
        let channel = address
            .endpoint(tls)
            .with_context(|| format!("--server {endpoint}"))?
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
