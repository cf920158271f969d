//! The `tessera` binary (see `tessera --help`): the command line and what each command does.
//!
//! It owns flags, prompts and terminal output, and nothing below them: `serve` and `dev` run
//! `tessera-server` (the library) with settings validated here (`cli/`); the remote commands
//! (`user`, `totp`, `token`, `audit`, `login`…, `health`) speak gRPC only through
//! `tessera-client`, never through generated stubs of their own; the commands that run on the
//! server host with no token (`user add --database-url`, `token what|reset|set`, `keys`) use
//! `tessera-store`. One file per command group in `commands/`; `main` only routes.

// mimalloc, not the C library's allocator: glibc's malloc and free (fastbin consolidation
// among them) took a tenth of a replica's CPU per uncached Introspect (BENCHMARKS.md, issue 33).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal as _;

use clap::Parser;

mod cli;
mod commands;
mod credentials;
mod prompt;
mod remote;

use cli::{Cli, Command};
use commands::{audit, dev, health, keys, login, master, serve, tokens, totp, users};
use commands::{keys::KeysCommand, tokens::TokenCommand};
use tessera_telemetry::{LogSettings, TraceSettings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let setup = telemetry_settings(&cli);
    tessera_telemetry::run_program("tessera", setup, run(cli)).await
}

/// Logs for every command; trace export only for the serving ones, when configured.
fn telemetry_settings(cli: &Cli) -> anyhow::Result<(LogSettings, Option<TraceSettings>)> {
    let filter =
        EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let traces: Option<TraceSettings> = match &cli.command {
        Command::Serve(args) => args.listen.traces.settings("tessera")?,
        Command::Dev(args) => args.listen.traces.settings("tessera")?,
        _ => None,
    };
    let log = LogSettings {
        filter,
        format: cli.log_format,
        // Colour only for a person at a terminal; a log file or pipe gets plain text.
        ansi: std::io::stderr().is_terminal(),
    };
    Ok((log, traces))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let leading = cli.remote;
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Dev(args) => dev::dev(args).await,
        Command::Migrate(args) => serve::migrate(args).await,
        Command::Login(mut args) => {
            args.remote = args.remote.or(&leading);
            login::login(args).await
        }
        Command::Logout(args) => login::logout(args.remote.or(&leading)).await,
        Command::Unlock(mut args) => {
            args.remote = args.remote.or(&leading);
            login::unlock(args).await
        }
        Command::Lock(args) => login::lock(args.remote.or(&leading)).await,
        Command::Status(args) => login::status(args.remote.or(&leading)).await,
        Command::User(group) => users::run(group.command, &group.remote.or(&leading)).await,
        Command::Totp(group) => totp::run(group.command, &group.remote.or(&leading)).await,
        Command::Audit(group) => audit::run(group.command, &group.remote.or(&leading)).await,
        Command::Token(group) => {
            let remote = group.remote.or(&leading);
            // The master token's commands run on the server host, against the database.
            match group.command {
                TokenCommand::What(db) => master::what(db, remote.json).await,
                TokenCommand::Reset(db) => master::reset(db, remote.json).await,
                TokenCommand::Set(db) => master::set(db, remote.json).await,
                command => tokens::run(command, &remote).await,
            }
        }
        Command::Keys(KeysCommand::Rotate(args)) => keys::keys_rotate(args).await,
        Command::Keys(KeysCommand::List(args)) => keys::keys_list(args).await,
        Command::HashPassword => serve::hash_password(),
        Command::Health(args) => health::probe(&args).await,
    }
}
