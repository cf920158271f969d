//! The `tessera` binary: see `tessera --help`.

use clap::Parser;
use tessera_server::{
    cli::{Cli, Command, LogFormat, UserCommand},
    commands,
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter =
        EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
    let result = match cli.command {
        Command::Serve(args) => commands::serve(args).await,
        Command::Dev(args) => commands::dev(args).await,
        Command::Migrate(args) => commands::migrate(args).await,
        Command::User(UserCommand::Add(args)) => commands::user_add(args).await,
        Command::HashPassword => commands::hash_password(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
