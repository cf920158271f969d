//! The `tessera` command line's root: the command list, and the flag groups several command
//! groups share (`server`: serve and dev; `remote`: every remote command). A command group's own
//! flags live beside its body in `commands/`. One clap derive tree; every flag is also a
//! `TESSERA_*` environment variable, and each doc comment is its `--help`. Values are validated
//! once, into typed settings, with errors that name the setting.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tessera_store::{PgPool, PoolSettings};

mod remote;
mod server;

pub use remote::*;

use crate::commands::{
    audit::AuditCommand,
    health::HealthArgs,
    keys::KeysCommand,
    login::{LoginArgs, UnlockArgs},
    tokens::TokenCommand,
    totp::TotpCommand,
    users::UserCommand,
};
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

/// How logs are written (the same choice the edges offer).
pub use tessera_telemetry::LogFormat;

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
