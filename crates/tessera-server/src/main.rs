//! The `tessera` binary: see `tessera --help`.

use clap::Parser;
use tessera_server::{
    cli::{Cli, Command, KeysCommand, LogFormat, TokenCommand, UserCommand},
    commands, master,
    remote::{self, AuditCommand, Remote, RemoteArgs, TotpCommand},
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
        Command::Dev(args) => tessera_server::dev::dev(args).await,
        Command::Migrate(args) => commands::migrate(args).await,
        Command::User(UserCommand::Add(args)) => commands::user_add(args, &cli.remote).await,
        Command::User(command) => remote_user(command, &cli.remote).await,
        Command::Totp(command) => remote_totp(command, &cli.remote).await,
        Command::Audit(AuditCommand::Tail(args)) => {
            async { remote::audit_tail(&Remote::connect(&cli.remote).await?, args).await }.await
        }
        Command::Token(TokenCommand::Check { token }) => {
            remote::token_check(token, cli.remote.json)
        }
        Command::Token(TokenCommand::What(db)) => master::what(db, cli.remote.json).await,
        Command::Token(TokenCommand::Reset(db)) => master::reset(db, cli.remote.json).await,
        Command::Token(TokenCommand::Set(db)) => master::set(db, cli.remote.json).await,
        Command::Token(command) => remote_token(command, &cli.remote).await,
        Command::Keys(KeysCommand::Rotate(args)) => commands::keys_rotate(args).await,
        Command::Keys(KeysCommand::List(args)) => commands::keys_list(args).await,
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

async fn remote_user(command: UserCommand, args: &RemoteArgs) -> anyhow::Result<()> {
    let remote = Remote::connect(args).await?;
    match command {
        UserCommand::Add(_) => unreachable!("handled before"),
        UserCommand::List => remote::user_list(&remote).await,
        UserCommand::Disable { username } => remote::user_disable(&remote, &username, true).await,
        UserCommand::Enable { username } => remote::user_disable(&remote, &username, false).await,
        UserCommand::Role { username, role } => remote::user_role(&remote, &username, &role).await,
        UserCommand::Passwd { username } => {
            let password = remote::read_secret(&format!("New password for {username}"))?;
            remote::user_passwd(&remote, &username, password).await
        }
    }
}

async fn remote_totp(command: TotpCommand, args: &RemoteArgs) -> anyhow::Result<()> {
    let remote = Remote::connect(args).await?;
    match command {
        TotpCommand::Enroll { username, code } => {
            remote::totp_enroll(&remote, &username, code).await
        }
        TotpCommand::Remove { username } => remote::totp_remove(&remote, &username).await,
    }
}

async fn remote_token(command: TokenCommand, args: &RemoteArgs) -> anyhow::Result<()> {
    let remote = Remote::connect(args).await?;
    match command {
        TokenCommand::Issue(args) => remote::token_issue(&remote, args).await,
        TokenCommand::List { user, all } => remote::token_list(&remote, user, all).await,
        TokenCommand::Show { token_id } => remote::token_show(&remote, &token_id).await,
        TokenCommand::Revoke(args) => remote::token_revoke(&remote, args).await,
        TokenCommand::Check { .. }
        | TokenCommand::What(_)
        | TokenCommand::Reset(_)
        | TokenCommand::Set(_) => {
            unreachable!("handled before")
        }
    }
}
