//! The `tessera` command line: one clap derive tree; every flag is also a `TESSERA_*` environment
//! variable, and each doc comment is its `--help`. Values are validated here, once, into typed
//! settings, with errors that name the setting.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tessera_core::{seal::SealingKey, ttl::parse_ttl};

use crate::settings::{AuthSettings, Redacted, ServeSettings, UNLOCK_TTL_CEILING};

/// Tessera: central authentication and token service (gRPC, PostgreSQL).
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: central authentication and token service (gRPC over PostgreSQL)",
    after_help = "Start here: `tessera dev` runs everything locally and prints how to connect.\n\
                  Operators: `tessera login`, then `tessera user list`, `tessera token issue`, … (each takes --server).\n\
                  Every flag is also a TESSERA_* environment variable."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, env = "TESSERA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// The remote commands' flags also before the command (`tessera --server … user list`),
    /// as older scripts write them; hidden so each command's help shows only its own flags.
    #[command(flatten)]
    pub remote: crate::remote::LeadingRemoteArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API against an existing PostgreSQL (runs pending migrations first).
    Serve(ServeArgs),
    /// Run everything on this machine: an embedded PostgreSQL in --data-dir, migrations, a
    /// bootstrapped admin account and service token (printed once), and the gRPC server.
    Dev(DevArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Log in: asks for the password (and a TOTP code when the account has one) and keeps the
    /// session in a credentials file (0600, one entry per server) that later commands use.
    Login(crate::session::LoginArgs),
    /// Revoke the stored session of --server and forget it.
    Logout(Remote),
    /// Elevate the stored session for a while (sudo mode): asks for your password, or the
    /// break-glass root password; admin commands use the elevated token until it ends.
    Unlock(crate::session::UnlockArgs),
    /// End the elevation now (revokes the elevated token).
    Lock(Remote),
    /// Who you are on --server: account, role, session expiry, elevated until.
    #[command(visible_alias = "whoami")]
    Status(Remote),
    /// Manage accounts over gRPC (`user add` also works directly against the database with
    /// --database-url when you have no token yet).
    User(Group<UserCommand>),
    /// Enroll or remove an account's TOTP second factor (over gRPC).
    Totp(Group<crate::remote::TotpCommand>),
    /// Issue, list, show and revoke tokens (over gRPC); check a token's form offline; manage the
    /// master token on the server host (what, reset, set).
    Token(Group<TokenCommand>),
    /// Read the audit trail (over gRPC).
    Audit(Group<crate::remote::AuditCommand>),
    /// Manage the JWT signing keys directly in the database (run on the server host).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read a password from standard input and print its argon2id hash, e.g. for
    /// TESSERA_ROOT_PASSWORD_HASH.
    HashPassword,
    /// Ask --server's gRPC health service whether Tessera is SERVING (exit 0) or not (exit 1),
    /// for container health checks and exec probes; `https://` servers are checked over TLS.
    Health(crate::health_probe::HealthArgs),
}

/// A remote command group: where the server is and who asks, then the command.
#[derive(Debug, Args)]
pub struct Group<C: Subcommand> {
    #[command(flatten)]
    pub remote: crate::remote::RemoteArgs,
    #[command(subcommand)]
    pub command: C,
}

/// A remote command without flags of its own.
#[derive(Debug, Args)]
pub struct Remote {
    #[command(flatten)]
    pub remote: crate::remote::RemoteArgs,
}

/// Account commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from a prompt, or from stdin with --password-stdin,
    /// never from the command line. With a token (--token-file, TESSERA_TOKEN) it goes over gRPC;
    /// without one, directly to the database given by --database-url (how the first account is made).
    Add(UserAddArgs),
    /// List accounts.
    List,
    /// Disable an account: it cannot log in and all its tokens are revoked at once.
    Disable {
        /// The account.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account.
        username: String,
    },
    /// Change an account's role (user, admin, owner, superuser, root); its tokens are revoked so
    /// the new role applies at once.
    Role {
        /// The account.
        username: String,
        /// The new role.
        role: String,
    },
    /// Set an account's password (prompted, or the first line of stdin); clears a lockout and
    /// revokes the account's tokens.
    Passwd {
        /// The account.
        username: String,
    },
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token derived from yours (never broader than it); the secret is printed once.
    Issue(crate::remote::TokenIssueArgs),
    /// List your tokens, or another account's with --user (admin rights needed).
    List {
        /// The account (default: yours).
        #[arg(long)]
        user: Option<String>,
        /// Include revoked, expired and used-up tokens.
        #[arg(long)]
        all: bool,
    },
    /// Show one token by id (never its secret).
    Show {
        /// The token id.
        token_id: String,
    },
    /// Revoke a token and everything derived from it.
    Revoke(crate::remote::TokenRevokeArgs),
    /// Say whether a string is a well-formed Tessera token (grammar and checksum), offline. Reads
    /// the token from stdin when none (or `-`) is given.
    Check {
        /// The token (omit or `-` to read stdin, which keeps it out of shell history).
        token: Option<String>,
    },
    /// Show the master token's id, prefix and age (run on the server host; never the secret).
    What(DatabaseArgs),
    /// Mint a new random master token, revoking the old one at once; prints the new secret once.
    Reset(DatabaseArgs),
    /// Set a custom master token read from a prompt or stdin (never argv): it must start with
    /// `tsr_mst_` and be at least 32 characters. The old one is revoked at once.
    Set(DatabaseArgs),
}

/// JWT signing key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key that signs every new JWT from now on. Older keys keep verifying the
    /// tokens they signed until those expire; running servers pick the change up at once.
    Rotate(KeysRotateArgs),
    /// List the signing keys: id, creation, retirement, and which one signs.
    List(KeysListArgs),
}

/// Flags of `keys rotate`.
#[derive(Debug, Args)]
pub struct KeysRotateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The servers' --totp-key: it seals the new private key, and only servers holding it can
    /// sign with it.
    #[arg(long, env = "TESSERA_TOTP_KEY", hide_env_values = true)]
    pub totp_key: String,
    /// Rotate even though the current key does not open with --totp-key (the servers' key was
    /// changed on purpose).
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `keys list`.
#[derive(Debug, Args)]
pub struct KeysListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Print the keys as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the database is.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL, e.g. postgres://tessera:…@db:5432/tessera.
    #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Most database connections this process holds.
    #[arg(long, env = "TESSERA_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Do not run pending migrations at start-up.
    #[arg(long, env = "TESSERA_SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// PostgreSQL URL of a direct session (not PgBouncer's transaction pooling) for what needs one:
    /// the LISTENs that bring revocations and JWT key changes to this replica, and the migration
    /// lock. Default: --database-url.
    #[arg(long, env = "TESSERA_DIRECT_DATABASE_URL", hide_env_values = true)]
    pub direct_database_url: Option<String>,
}

/// Flags of `dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Directory for the embedded PostgreSQL and the dev credentials (created if missing). One
    /// `tessera dev` per directory. Run as root, when PostgreSQL's user cannot reach it (a checkout
    /// in /root), the cluster lives in /var/lib/tessera/embedded/<name>-<hash> instead, kept across
    /// runs (its `cluster-location` file says where).
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = ".tessera")]
    pub data_dir: PathBuf,
    /// Directory holding initdb and postgres (default: pg_config, then /usr/lib/postgresql/*/bin).
    #[arg(long, env = "TESSERA_PG_BIN")]
    pub pg_bin_dir: Option<PathBuf>,
    /// When ready, write the connection details as JSON to this file (for scripts and tests).
    #[arg(long, env = "TESSERA_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub edges: crate::dev_edges::EdgeArgs,
}

/// Where to listen.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address for the gRPC API (port 0 picks a free port).
    #[arg(long, env = "TESSERA_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Serve Prometheus metrics (GET /metrics) on this separate address, e.g. 127.0.0.1:9464
    /// (port 0 picks a free port). Off unless given.
    #[arg(long, env = "TESSERA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub traces: tessera_telemetry::TraceArgs,
    /// Serve gRPC over TLS with this PEM certificate chain (leaf first); needs --tls-key. The pair
    /// is reloaded on SIGHUP and when either file changes, without a restart.
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: PEM CA certificates that sign client certificates. Every client must then
    /// present one; its subject is recorded with the client's calls. Needs --tls-cert.
    #[arg(long, env = "TESSERA_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// How often the --tls-cert and --tls-key files are checked for changes, e.g. 10s.
    #[arg(long, env = "TESSERA_TLS_WATCH_INTERVAL", default_value = "10s")]
    pub tls_watch_interval: String,
    /// Most concurrent gRPC streams (calls) on one client connection; HTTP/2 refuses more.
    #[arg(long, env = "TESSERA_MAX_CONCURRENT_STREAMS", default_value_t = 256)]
    pub max_concurrent_streams: u32,
    /// On SIGTERM: health turns NOT_SERVING, WatchRevocations streams end (UNAVAILABLE, reconnect
    /// elsewhere), no new connections are taken, and in-flight calls get this long to finish, e.g. 10s.
    #[arg(long, env = "TESSERA_SHUTDOWN_GRACE", default_value = "10s")]
    pub shutdown_grace: String,
}

/// Authentication policy flags shared by `serve` and `dev`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Lifetime of a login session, e.g. 12h.
    #[arg(long, env = "TESSERA_SESSION_TTL", default_value = "12h")]
    pub session_ttl: String,
    /// Longest elevation an Unlock may grant (at most 1h).
    #[arg(long, env = "TESSERA_UNLOCK_TTL_CAP", default_value = "15m")]
    pub unlock_ttl_cap: String,
    /// Lifetime of an issued token whose request names none (capped by its parent).
    #[arg(long, env = "TESSERA_DEFAULT_TOKEN_TTL", default_value = "1h")]
    pub default_token_ttl: String,
    /// Failed login attempts before the account locks.
    #[arg(long, env = "TESSERA_MAX_FAILED_LOGINS", default_value_t = 5)]
    pub max_failed_logins: u32,
    /// How long a locked account stays locked.
    #[arg(long, env = "TESSERA_LOCKOUT", default_value = "15m")]
    pub lockout: String,
    /// argon2id hash (PHC string) of the break-glass root password accepted by Unlock; make one
    /// with `tessera hash-password`.
    #[arg(long, env = "TESSERA_ROOT_PASSWORD_HASH", hide_env_values = true)]
    pub root_password_hash: Option<String>,
    /// Base64 of 32 random bytes sealing TOTP seeds and JWT signing keys at rest (e.g.
    /// `openssl rand -base64 32`). Needed once any account enrolls TOTP, and to issue JWTs
    /// (without it a replica still verifies them); `dev` keeps one in its data directory.
    #[arg(long, env = "TESSERA_TOTP_KEY", hide_env_values = true)]
    pub totp_key: Option<String>,
    /// Password verifications running at once (default: half the cores, at least 1).
    #[arg(long, env = "TESSERA_HASH_WORKERS")]
    pub hash_workers: Option<usize>,
    /// Password verifications that may wait; past this, Login answers RESOURCE_EXHAUSTED at once.
    #[arg(long, env = "TESSERA_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,
    /// Disable the per-replica decision cache (every Introspect reads PostgreSQL).
    #[arg(long, env = "TESSERA_NO_CACHE")]
    pub no_cache: bool,
    /// Most decisions the per-replica cache holds (0 caches nothing); when full, an arbitrary
    /// entry makes room.
    #[arg(long, env = "TESSERA_CACHE_CAPACITY", default_value_t = 100_000)]
    pub cache_capacity: usize,
    /// Most WatchRevocations streams open at once per caller (an account, or a token without
    /// one); more answer RESOURCE_EXHAUSTED.
    #[arg(long, env = "TESSERA_WATCH_STREAMS_PER_CALLER", default_value_t = 8)]
    pub watch_streams_per_caller: usize,
    /// Static tokens file (TOML, `[token.<name>] secret, namespace, permissions, expires`), loaded
    /// at start and reloaded on SIGHUP.
    #[arg(long, env = "TESSERA_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// How often expired tokens are deleted (in batches), e.g. 5m.
    #[arg(long, env = "TESSERA_SWEEP_INTERVAL", default_value = "5m")]
    pub sweep_interval: String,
    /// How long revocations stay in the feed WatchRevocations replays, e.g. 14d (default: 7d, or
    /// the longest configured token lifetime when that is longer). At least the longest configured
    /// token lifetime (--session-ttl, --default-token-ttl, --unlock-ttl-cap) unless
    /// --revocation-retention-resync is given. A watcher resuming from a pruned sequence gets
    /// FAILED_PRECONDITION / RESYNC_REQUIRED and starts again from 0.
    #[arg(long, env = "TESSERA_REVOCATION_RETENTION")]
    pub revocation_retention: Option<String>,
    /// Accept a --revocation-retention shorter than the longest configured token lifetime:
    /// watchers disconnected for longer than it drop their caches and resync.
    #[arg(long, env = "TESSERA_REVOCATION_RETENTION_RESYNC")]
    pub revocation_retention_resync: bool,
    /// How long audit events are kept, e.g. 90d, or `forever`; export older ones first with
    /// `tessera audit export`.
    #[arg(long, env = "TESSERA_AUDIT_RETENTION", default_value = "90d")]
    pub audit_retention: String,
    /// Accounts to create at start-up if missing: a JSON list of
    /// {"username","password","role","display_name"}.
    #[arg(long, env = "TESSERA_BOOTSTRAP_ACCOUNTS_JSON", hide_env_values = true)]
    pub bootstrap_accounts_json: Option<String>,
}

/// Flags of `user add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// PostgreSQL URL, to create the account directly in the database (when you have no token).
    #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// One of user, admin, owner, superuser, root.
    #[arg(long, default_value = "user")]
    pub role: String,
    /// Human-readable name.
    #[arg(long, default_value = "")]
    pub display_name: String,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Enroll TOTP and print the otpauth:// URI to add to an authenticator app.
    #[arg(long)]
    pub totp: bool,
    /// Key sealing TOTP seeds (as for `serve`); required with --totp.
    #[arg(long, env = "TESSERA_TOTP_KEY", hide_env_values = true)]
    pub totp_key: Option<String>,
}

impl AuthArgs {
    /// Validates the flags into settings; errors name the flag.
    pub fn settings(&self) -> anyhow::Result<AuthSettings> {
        let duration = |flag: &str, value: &str| {
            parse_ttl(value).map_err(|e| {
                anyhow::anyhow!(
                    "--{flag} (TESSERA_{}): {e}",
                    flag.replace('-', "_").to_uppercase()
                )
            })
        };
        let unlock_ttl_cap = duration("unlock-ttl-cap", &self.unlock_ttl_cap)?;
        if unlock_ttl_cap > UNLOCK_TTL_CEILING {
            anyhow::bail!(
                "--unlock-ttl-cap (TESSERA_UNLOCK_TTL_CAP): at most 1h, got {}",
                self.unlock_ttl_cap
            );
        }
        if self.max_failed_logins == 0 || self.max_failed_logins > 1000 {
            anyhow::bail!("--max-failed-logins (TESSERA_MAX_FAILED_LOGINS): between 1 and 1000");
        }
        let totp_key = self
            .totp_key
            .as_deref()
            .map(|k| {
                SealingKey::from_base64(k.trim())
                    .map_err(|e| anyhow::anyhow!("--totp-key (TESSERA_TOTP_KEY): {e}"))
            })
            .transpose()?;
        let root_password_hash = match &self.root_password_hash {
            Some(phc) if !phc.trim().starts_with("$argon2id$") => {
                anyhow::bail!("--root-password-hash (TESSERA_ROOT_PASSWORD_HASH): expected an argon2id PHC string from `tessera hash-password`")
            }
            other => other.as_ref().map(|phc| Redacted(phc.trim().to_owned())),
        };
        let defaults = AuthSettings::default();
        let settings = AuthSettings {
            session_ttl: duration("session-ttl", &self.session_ttl)?,
            unlock_ttl_cap,
            default_token_ttl: duration("default-token-ttl", &self.default_token_ttl)?,
            max_failed_logins: self.max_failed_logins as i32,
            lockout: duration("lockout", &self.lockout)?,
            hash_workers: self.hash_workers.unwrap_or(defaults.hash_workers).max(1),
            hash_queue: self.hash_queue,
            root_password_hash,
            totp_key: totp_key.map(Redacted),
            cache_enabled: !self.no_cache,
            cache_capacity: self.cache_capacity,
            watch_streams_per_caller: self.watch_streams_per_caller,
            ..defaults
        };
        // The sweeper's flags depend on these (the feed's retention against token lifetimes):
        // checked here too, so a bad combination stops start-up before anything runs.
        crate::sweeper::settings(self, &settings)?;
        Ok(settings)
    }
}

impl ListenArgs {
    /// Serve settings with this address and, when a certificate is given, TLS.
    pub fn settings(&self) -> anyhow::Result<ServeSettings> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
                watch_interval: parse_ttl(&self.tls_watch_interval)
                    .map_err(|e| {
                        anyhow::anyhow!("--tls-watch-interval (TESSERA_TLS_WATCH_INTERVAL): {e}")
                    })?
                    .unsigned_abs(),
            }),
            _ => None,
        };
        let shutdown_grace = parse_ttl(&self.shutdown_grace)
            .map_err(|e| anyhow::anyhow!("--shutdown-grace (TESSERA_SHUTDOWN_GRACE): {e}"))?
            .unsigned_abs();
        Ok(ServeSettings {
            listen: self.listen,
            metrics_listen: self.metrics_listen,
            tls,
            max_concurrent_streams: self.max_concurrent_streams,
            shutdown_grace,
            ..ServeSettings::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_durations_name_the_flag() {
        let cli = Cli::try_parse_from(["tessera", "dev", "--unlock-ttl-cap", "2h"]).unwrap();
        let Command::Dev(dev) = cli.command else {
            panic!("dev")
        };
        let err = dev.auth.settings().unwrap_err().to_string();
        assert!(err.contains("--unlock-ttl-cap"), "{err}");
        let cli = Cli::try_parse_from(["tessera", "dev", "--session-ttl", "0s"]).unwrap();
        let Command::Dev(dev) = cli.command else {
            panic!("dev")
        };
        let err = dev.auth.settings().unwrap_err().to_string();
        assert!(err.contains("--session-ttl"), "{err}");
    }
}
