//! The `tessera` command line: one clap derive tree; every flag is also a `TESSERA_*` environment
//! variable, and each doc comment is its `--help`. Values are validated here, once, into typed
//! settings, with errors that name the setting.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tessera_store::{PgPool, PoolSettings};

mod remote;
mod server;

pub use remote::*;
pub use server::*;

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
    pub remote: LeadingRemoteArgs,
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
    Login(LoginArgs),
    /// Revoke the stored session of --server and forget it.
    Logout(Remote),
    /// Elevate the stored session for a while (sudo mode): asks for your password, or the
    /// break-glass root password; admin commands use the elevated token until it ends.
    Unlock(UnlockArgs),
    /// End the elevation now (revokes the elevated token).
    Lock(Remote),
    /// Who you are on --server: account, role, session expiry, elevated until.
    #[command(visible_alias = "whoami")]
    Status(Remote),
    /// Manage accounts over gRPC (`user add` also works directly against the database with
    /// --database-url when you have no token yet).
    User(Group<UserCommand>),
    /// Enroll or remove an account's TOTP second factor (over gRPC).
    Totp(Group<TotpCommand>),
    /// Issue, list, show and revoke tokens (over gRPC); check a token's form offline; manage the
    /// master token on the server host (what, reset, set).
    Token(Group<TokenCommand>),
    /// Read the audit trail (over gRPC).
    Audit(Group<AuditCommand>),
    /// Manage the JWT signing keys directly in the database (run on the server host).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read a password from standard input and print its argon2id hash, e.g. for
    /// TESSERA_ROOT_PASSWORD_HASH.
    HashPassword,
    /// Ask --server's gRPC health service whether Tessera is SERVING (exit 0) or not (exit 1),
    /// for container health checks and exec probes; `https://` servers are checked over TLS.
    Health(HealthArgs),
}

/// A remote command group: where the server is and who asks, then the command.
#[derive(Debug, Args)]
pub struct Group<C: Subcommand> {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: C,
}

/// A remote command without flags of its own.
#[derive(Debug, Args)]
pub struct Remote {
    #[command(flatten)]
    pub remote: RemoteArgs,
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
    Issue(TokenIssueArgs),
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
    Revoke(TokenRevokeArgs),
    /// Ask the server what a token is (active, account, namespace, permissions, expiry) without
    /// spending one of its uses: the CLI's `grpcurl … Introspect` with `peek`. Acting with a
    /// token that holds `introspect`. Reads the token from stdin when none (or `-`) is given.
    Introspect {
        /// The token to ask about (omit or `-` to read stdin, which keeps it out of shell
        /// history). Its own id: the global `--token` (who asks) is another argument.
        #[arg(id = "introspected", value_name = "TOKEN")]
        token: Option<String>,
    },
    /// Say whether a string is a well-formed Tessera token (grammar and checksum), offline. Reads
    /// the token from stdin when none (or `-`) is given.
    Check {
        /// The token (omit or `-` to read stdin, which keeps it out of shell history). Its own id:
        /// sharing the global `--token`'s would fill it from TESSERA_TOKEN.
        #[arg(id = "checked", value_name = "TOKEN")]
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

impl DatabaseArgs {
    /// A pool for this database (connecting lazily), at least two connections.
    pub fn pool(&self) -> anyhow::Result<PgPool> {
        let settings = PoolSettings {
            max_connections: self.db_max_connections.max(2),
            ..PoolSettings::default()
        };
        tessera_store::connect_lazy(&self.database_url, &settings)
            .context("--database-url (TESSERA_DATABASE_URL) is not a valid PostgreSQL URL")
    }
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// A positional token of `token check`/`token introspect` is not the global `--token` (who
    /// asks): given as a positional it must not become the caller, nor come from TESSERA_TOKEN.
    #[test]
    fn a_positional_token_is_not_the_callers() {
        use clap::Parser as _;
        for sub in ["check", "introspect"] {
            let cli = Cli::try_parse_from(["tessera", "token", sub, "tsr_api_x"]).unwrap();
            let Command::Token(group) = cli.command else {
                panic!("not token")
            };
            assert_eq!(
                group.remote.token, None,
                "{sub}: the positional became --token"
            );
            match group.command {
                TokenCommand::Check { token } | TokenCommand::Introspect { token } => {
                    assert_eq!(token.as_deref(), Some("tsr_api_x"), "{sub}")
                }
                _ => panic!("{sub}"),
            }
        }
    }

    /// scripts/dev.sh and the docs say `TESSERA_DEV_EDGES=0` runs the server alone; every
    /// spelling of yes and no reads as one. (The only test here that reads this variable.)
    #[test]
    fn tessera_dev_edges_reads_1_and_0() {
        use clap::Parser as _;
        for (value, edges) in [("0", false), ("1", true), ("false", false), ("yes", true)] {
            std::env::set_var("TESSERA_DEV_EDGES", value);
            let parsed = Cli::try_parse_from(["tessera", "dev"]);
            std::env::remove_var("TESSERA_DEV_EDGES");
            match parsed.map_err(|e| e.to_string()).map(|cli| cli.command) {
                Ok(Command::Dev(args)) => assert_eq!(args.edges.edges, edges, "{value}"),
                Ok(_) => panic!("not dev"),
                Err(e) => panic!("TESSERA_DEV_EDGES={value}: {e}"),
            }
        }
    }
}
