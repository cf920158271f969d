//! The flag group every remote command shares: where the server is, how to trust it, and who
//! asks.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

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
