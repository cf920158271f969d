//! The operator CLI over gRPC: `tessera user|totp|token|audit …` against a running server,
//! through `tessera-client` (the one Rust client: TLS, deadlines, retries of calls safe to repeat,
//! the reason table), with a readable table by default and `--json` on request. Errors print the
//! server's reason and a hint for a person at a terminal, and the process exits non-zero.

use std::time::Duration;

use serde_json::{json, Value};
use tessera_client::{Client, Reason, Secret, ServerAddress, TlsFlags, User};
use time::OffsetDateTime;

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one command's call may take, retries included.
const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// A connected client, acting with the caller's token, and how to print answers.
pub struct Remote {
    /// The client.
    pub client: Client,
    /// Whether to print JSON.
    pub json: bool,
}

/// Where the server is and how to verify it: the flags every remote command shares, checked.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    /// The server.
    pub address: ServerAddress,
    /// PEM CA certificates to verify an `https://` server with (default: the system's roots).
    pub ca: Option<std::path::PathBuf>,
    /// The name to expect in an `https://` server's certificate.
    pub tls_server_name: Option<String>,
    /// The PEM client certificate to present (mutual TLS), with `key`.
    pub cert: Option<std::path::PathBuf>,
    /// The PEM private key of `cert`.
    pub key: Option<std::path::PathBuf>,
}

impl Remote {
    /// Connects to `target`, acting with `token` (none for `Login`).
    pub async fn connect(
        target: &RemoteTarget,
        token: Option<String>,
        json: bool,
    ) -> anyhow::Result<Remote> {
        let mut builder = Client::builder()
            .address(target.address.uri())
            .connect_timeout(CONNECT_TIMEOUT)
            .deadline(CALL_DEADLINE)
            // A person reads the errors: say why a connection closed.
            .diagnose_failures(true);
        if let Some(ca) = &target.ca {
            builder = builder.ca_file(ca);
        }
        if let Some(name) = &target.tls_server_name {
            builder = builder.tls_server_name(name);
        }
        if let (Some(cert), Some(key)) = (&target.cert, &target.key) {
            builder = builder.identity_files(cert, key);
        }
        if let Some(token) = token {
            builder = builder.token(Secret::new(token));
        }
        builder
            .check()
            .map_err(|e| anyhow::anyhow!("{}", e.flags_message(&TlsFlags::CLI)))?;
        let client = builder.connect().await.map_err(|e| match e.reason() {
            Reason::Unavailable => unreachable(&target.address, &e),
            // A setting at fault before anything was sent (the token's characters, the CA file).
            _ => match e.field() {
                Some("token") => {
                    anyhow::anyhow!("--token (TESSERA_TOKEN, --token-file): {}", e.message())
                }
                _ => anyhow::anyhow!("{}", e.flags_message(&TlsFlags::CLI)),
            },
        })?;
        Ok(Remote { client, json })
    }

    /// Prints `value` as JSON with `--json`, else the table.
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

/// The server could not be reached: what happened, once, and what to do. When the transport
/// said why (a TLS mismatch, a missing client certificate) that is the message; otherwise the
/// client's own account of each address.
pub fn unreachable(address: &ServerAddress, error: &tessera_client::Error) -> anyhow::Error {
    match error.transport_problem() {
        Some(problem) => anyhow::anyhow!(
            "cannot reach Tessera at {address}: {problem}\nhint: {}",
            problem.advice(&TlsFlags::CLI)
        ),
        None => anyhow::anyhow!(
            "{}\nhint: is the server running? (scripts/dev.sh, tessera serve); set --server or TESSERA_SERVER",
            error.message()
        ),
    }
}

/// What to try next, for a person at a terminal, after the server refused with `reason`.
fn hint(reason: Reason) -> &'static str {
    match reason {
        Reason::AuthRequired => "log in with `tessera login`, or pass a token with --token-file, TESSERA_TOKEN or --token",
        Reason::AuthFailed => "the token is invalid, expired, revoked or used up; log in again with `tessera login`",
        Reason::InvalidCredentials => "wrong username, password or TOTP code",
        Reason::MfaRequired => "the account has TOTP: give the current code",
        Reason::AccountLocked => "too many failed attempts; wait for the lockout to pass, or ask an admin (`tessera user passwd`)",
        Reason::AuthDenied => "the token lacks the permission or namespace this needs",
        Reason::ElevationRequired => "elevate first with `tessera unlock`, or use an admin account's session",
        Reason::PrivilegeExceeded => "ask for no more than your own token holds",
        Reason::OverPrivileged => {
            "name only the permissions the service needs, e.g. --permission introspect"
        }
        Reason::UserNotFound => "list accounts with `tessera user list`",
        Reason::UserExists => "pick another username",
        Reason::TokenNotFound => "list tokens with `tessera token list`",
        Reason::InvalidArgument => "see `--help` for the accepted values",
        Reason::Unavailable => "Tessera or its PostgreSQL is unreachable; try again shortly",
        _ => "",
    }
}

/// Turns a failed call into a message with the server's reason (from `tessera_client::Reason`),
/// the field at fault, and a hint.
pub fn explain(error: tessera_client::Error) -> anyhow::Error {
    // A connection that failed under the call (mutual TLS refuses at the first request, not at
    // connect) is told like one that failed at connect.
    if let Some(problem) = error.transport_problem() {
        return anyhow::anyhow!(
            "the connection to Tessera failed: {problem}\nhint: {}",
            problem.advice(&TlsFlags::CLI)
        );
    }
    let (field, message) = field_once(error.field(), error.message());
    let label = error.wire_reason();
    match hint(error.reason()) {
        "" => anyhow::anyhow!("{label}{field}: {message}"),
        hint => anyhow::anyhow!("{label}{field}: {message}\nhint: {hint}"),
    }
}

/// The field at fault named once: the server's message often starts with it (`token_id:
/// token_id must be a UUID`), so a leading `field: ` is dropped, and `(field …)` is added only
/// when the message does not name it.
fn field_once<'a>(field: Option<&str>, message: &'a str) -> (String, &'a str) {
    let Some(field) = field else {
        return (String::new(), message);
    };
    let message = message
        .strip_prefix(field)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(message);
    if message.contains(field) {
        (String::new(), message)
    } else {
        (format!(" (field {field})"), message)
    }
}

/// A time as RFC 3339 to the second, `-` when there is none.
pub fn time_text(at: Option<OffsetDateTime>) -> String {
    at.and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
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

/// An account as JSON.
pub fn user_json(user: &User) -> Value {
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

    #[test]
    fn times_print_to_the_second() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_250_000_000).unwrap();
        assert_eq!(time_text(Some(at)), "2023-11-14T22:13:20Z");
        assert_eq!(time_text(None), "-");
    }

    #[test]
    fn a_field_is_named_once() {
        assert_eq!(
            field_once(Some("token_id"), "token_id: token_id must be a UUID"),
            (String::new(), "token_id must be a UUID")
        );
        assert_eq!(
            field_once(Some("ttl"), "too long"),
            (" (field ttl)".to_owned(), "too long")
        );
        assert_eq!(field_once(None, "x"), (String::new(), "x"));
    }

    #[test]
    fn every_refusal_an_operator_can_act_on_has_a_hint() {
        for reason in [
            Reason::AuthRequired,
            Reason::AuthFailed,
            Reason::ElevationRequired,
            Reason::UserNotFound,
            Reason::TokenNotFound,
        ] {
            assert!(!hint(reason).is_empty(), "{reason}");
        }
    }
}
