//! The remote commands' flags: where the server is and who asks, and each command's own.

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use tessera_client::ServerAddress;

use crate::{
    credentials::Credentials,
    remote::{Remote, RemoteTarget},
};

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
    /// PEM CA certificates to verify an https:// server with [default: the system's roots].
    #[arg(long, env = "TESSERA_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// The name to expect in an https:// server's certificate, when it differs from the host.
    #[arg(long, env = "TESSERA_TLS_SERVER_NAME", global = true)]
    pub tls_server_name: Option<String>,
    /// PEM client certificate for a server that requires one (mutual TLS); with --key. `tessera
    /// login` remembers it, with --ca and --tls-server-name, for the session's server.
    #[arg(long, env = "TESSERA_CERT", global = true, requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, env = "TESSERA_KEY", global = true, requires = "cert")]
    pub key: Option<PathBuf>,
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

    /// The checked `--server` with how to verify it and what to present (`--ca`,
    /// `--tls-server-name`, `--cert`/`--key`); what the flags leave out comes from the session
    /// `tessera login` stored for that server.
    pub fn target(&self) -> anyhow::Result<RemoteTarget> {
        let address = self.address()?;
        // An unreadable credentials file is reported where a session is needed, not here.
        let stored = self
            .credentials()
            .ok()
            .and_then(|c| c.session(&address).map(|s| s.tls.clone()))
            .unwrap_or_default();
        let (cert, key) = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => (Some(cert.clone()), Some(key.clone())),
            _ => (stored.cert, stored.key),
        };
        Ok(RemoteTarget {
            address,
            ca: self.ca.clone().or(stored.ca),
            tls_server_name: self.tls_server_name.clone().or(stored.tls_server_name),
            cert,
            key,
        })
    }

    /// The sessions `tessera login` stored (`--credentials-file`).
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        Credentials::load(self.credentials_file.as_deref())
    }

    /// The token to act with: the one given explicitly, else the session `tessera login` stored
    /// for `--server` (its elevated token while one lasts).
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        match self.explicit_token()? {
            Some(token) => Ok(Some(token)),
            None => Ok(self.credentials()?.active_token(&self.address()?)),
        }
    }

    /// Connects to `--server`, acting with [`RemoteArgs::token`].
    pub async fn connect(&self) -> anyhow::Result<Remote> {
        Remote::connect(&self.target()?, self.token()?, self.json).await
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
    /// Write audit events as JSON lines (newest first, every page), e.g. before the server's
    /// --audit-retention prunes them: `tessera audit export --until 80d --output old.jsonl`.
    Export(AuditExportArgs),
}

/// Flags of `audit export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Only events newer than this, e.g. 7d.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events older than this, e.g. 80d.
    #[arg(long)]
    pub until: Option<String>,
    /// Write to this new file (created 0600, never overwritten) instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<std::path::PathBuf>,
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

/// Flags of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The account (asked for when omitted).
    #[arg(long, short = 'u', env = "TESSERA_USERNAME")]
    pub username: Option<String>,
    /// Read the password (and then a TOTP code, if the account asks for one) from standard input,
    /// one per line, instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Flags of `unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// How long the elevation lasts, e.g. 5m (default and maximum: the server's cap).
    #[arg(long)]
    pub ttl: Option<String>,
    /// Read the password (and then a TOTP code) from standard input, one per line.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Flags of `tessera health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server: host:port, http://host:port (plaintext) or https://host:port (TLS).
    #[arg(long, env = "TESSERA_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// PEM CA certificates to verify an https:// server with [default: the system's roots].
    #[arg(long, env = "TESSERA_CA")]
    pub ca: Option<PathBuf>,
    /// The name to expect in the server's certificate, when it differs from the --server host
    /// (e.g. probing 127.0.0.1 inside a pod whose certificate names the service).
    #[arg(long, env = "TESSERA_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// PEM client certificate for a server that requires one (mutual TLS); with --key.
    #[arg(long, env = "TESSERA_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, env = "TESSERA_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The service to ask about; empty asks about the server as a whole.
    #[arg(long, default_value = "tessera.v1.AuthService")]
    pub service: String,
    /// Give up after this long, e.g. 3s.
    #[arg(long, default_value = "3s", value_parser = seconds)]
    pub timeout: Duration,
}

fn seconds(value: &str) -> Result<Duration, String> {
    tessera_rules::ttl::parse_ttl(value)
        .map(|d| d.unsigned_abs())
        .map_err(|e| e.to_string())
}
