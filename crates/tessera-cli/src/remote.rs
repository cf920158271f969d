//! The operator CLI over gRPC: `tessera user|totp|token|audit …` against a running server, with a
//! readable table by default and `--json` on request. Errors print the server's reason and a hint,
//! and the process exits non-zero.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};
use tessera_proto::v1::{
    self as pb, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use tonic::{metadata::MetadataValue, transport::Channel, Request};
use tonic_types::StatusExt as _;

use crate::cli::RemoteArgs;

mod address;
pub use address::{ClientTls, Dial, ServerAddress};

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
            None => crate::credentials::Credentials::load(args)?.active_token(&address),
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

    pub fn request<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        let mut request = Request::new(message);
        if let Some(token) = &self.token {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().map_err(|_| {
                anyhow::anyhow!("the token contains characters that cannot be sent")
            })?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }

    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }

    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    pub fn print(&self, value: Value, table: impl FnOnce() -> String) {
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

pub fn time_text(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

pub fn kind_name(kind: i32) -> &'static str {
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

pub fn user_json(user: &pb::User) -> Value {
    json!({
        "user_id": user.user_id, "username": user.username, "display_name": user.display_name,
        "role": user.role, "totp_enabled": user.totp_enabled,
    })
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
