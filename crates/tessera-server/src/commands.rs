//! What each `tessera` command does, given its validated flags.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{bail, Context};
use tessera_core::{
    clock::{Clock, SystemClock},
    password::{Argon2Params, Password, PasswordHasher},
    role::Role,
    seal::SealingKey,
    totp::TotpSecret,
};
use tessera_store::{
    users::{self, NewUser},
    PgPool, PoolSettings,
};
use tracing::info;
use uuid::Uuid;

use crate::{
    bootstrap,
    cli::{AuthArgs, DatabaseArgs, ServeArgs, UserAddArgs},
    server::Server,
};

mod keys;
pub use keys::{keys_list, keys_rotate};

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    info!("shutting down");
}

pub(crate) fn pool_for(database: &DatabaseArgs) -> anyhow::Result<PgPool> {
    let settings = PoolSettings {
        max_connections: database.db_max_connections.max(2),
        ..PoolSettings::default()
    };
    tessera_store::connect_lazy(&database.database_url, &settings)
        .context("--database-url (TESSERA_DATABASE_URL) is not a valid PostgreSQL URL")
}

/// Direct sessions a replica holds at most: the revocation feed's LISTEN and its catch-up reads,
/// the JWT key changes' LISTEN, and the migration lock at start-up.
const DIRECT_CONNECTIONS: u32 = 4;

/// `tessera serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let auth = args.auth.settings()?;
    let plan = bootstrap_plan(&args.auth)?;
    let pool = pool_for(&args.database)?;
    let direct = match &args.direct_database_url {
        Some(url) => tessera_store::connect_lazy(
            url,
            &PoolSettings {
                max_connections: DIRECT_CONNECTIONS,
                ..PoolSettings::default()
            },
        )
        .context(
            "--direct-database-url (TESSERA_DIRECT_DATABASE_URL) is not a valid PostgreSQL URL",
        )?,
        None => pool.clone(),
    };
    if !args.skip_migrations {
        // The migration lock is a session-level advisory lock: a direct session, never a
        // transaction-pooled connection that another client may be handed between statements.
        tessera_store::migrate(&direct).await.context(
            "running migrations (is PostgreSQL reachable at --direct-database-url, or --database-url?)",
        )?;
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server = Server::bind_with_direct(
        pool.clone(),
        direct,
        Arc::clone(&clock),
        auth,
        args.listen.settings()?,
    )
    .await?;
    if let Some(plan) = plan {
        bootstrap::apply(plan, server.authority(), &pool, clock.as_ref()).await?;
    }
    crate::sweeper::start_background(server.authority(), &args.auth).await?;
    server.serve(shutdown_signal()).await
}

/// `tessera migrate`.
pub async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let pool = pool_for(&args)?;
    tessera_store::migrate(&pool)
        .await
        .context("running migrations")?;
    println!("migrations applied");
    Ok(())
}

/// `tessera hash-password`.
pub fn hash_password() -> anyhow::Result<()> {
    let password = read_password(true, "Password to hash")?;
    let hasher = PasswordHasher::new(Argon2Params::default())?;
    println!("{}", hasher.hash(&password)?);
    Ok(())
}

/// `tessera user add`: over gRPC when a token is at hand, else directly in the database.
pub async fn user_add(args: UserAddArgs, remote: &crate::remote::RemoteArgs) -> anyhow::Result<()> {
    let explicit = remote.explicit_token()?;
    let logged_in = args.database_url.is_none()
        && crate::session::Credentials::load(remote)?
            .active_token(&remote.address()?)
            .is_some();
    if explicit.is_some() || logged_in {
        if args.totp {
            bail!(
                "over gRPC, enroll TOTP with `tessera totp enroll {}` after creating the account",
                args.username
            );
        }
        let password = read_password(
            args.password_stdin,
            &format!("Password for {}", args.username),
        )?;
        let client = crate::remote::Remote::connect(remote).await?;
        return crate::remote::user_add(
            &client,
            args.username.trim(),
            &args.display_name,
            &args.role,
            password.expose().to_owned(),
        )
        .await;
    }
    let Some(database_url) = args.database_url.clone() else {
        bail!(
            "no token and no database: pass --token-file (or TESSERA_TOKEN) to go through a server, \
             or --database-url (TESSERA_DATABASE_URL) on the server host"
        );
    };
    let database = DatabaseArgs {
        database_url,
        db_max_connections: 2,
    };
    let role: Role = args
        .role
        .parse()
        .map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    if args.username.trim().is_empty()
        || args
            .username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("--username must be non-empty without spaces");
    }
    let totp_key = match (&args.totp, &args.totp_key) {
        (true, Some(key)) => Some(
            SealingKey::from_base64(key.trim()).map_err(|e| anyhow::anyhow!("--totp-key: {e}"))?,
        ),
        (true, None) => {
            bail!("--totp needs --totp-key (TESSERA_TOTP_KEY), the same key the server uses")
        }
        (false, _) => None,
    };
    let password = read_password(
        args.password_stdin,
        &format!("Password for {}", args.username),
    )?;
    if password.expose().chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    let hasher = PasswordHasher::new(Argon2Params::default())?;
    let password_hash = tokio::task::spawn_blocking(move || hasher.hash(&password)).await??;
    let pool = pool_for(&database)?;
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await.context("connecting to the database")?;
    users::insert(
        &mut tx,
        &NewUser {
            id,
            username: args.username.clone(),
            display_name: args.display_name.clone(),
            role,
            password_hash,
            created_at: SystemClock.now(),
        },
    )
    .await
    .with_context(|| format!("creating user {:?}", args.username))?;
    let mut uri = None;
    if let Some(key) = totp_key {
        let secret = TotpSecret::generate();
        users::set_totp(&mut tx, id, Some(&key.seal(secret.as_bytes()))).await?;
        uri = Some(secret.otpauth_uri("Tessera", &args.username));
    }
    tx.commit().await?;
    println!(
        "created user {} ({}) with id {id}",
        args.username,
        role.as_str()
    );
    if let Some(uri) = uri {
        println!("TOTP enrolled; add this to an authenticator app (shown once):\n  {uri}");
    }
    Ok(())
}

pub(crate) fn read_password(from_stdin: bool, prompt: &str) -> anyhow::Result<Password> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(Password::new(password));
    }
    let first = rpassword::prompt_password(format!("{prompt}: "))?;
    let second = rpassword::prompt_password("Again: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(Password::new(first))
}

pub(crate) fn bootstrap_plan(auth: &AuthArgs) -> anyhow::Result<Option<bootstrap::BootstrapPlan>> {
    auth.bootstrap_accounts_json
        .as_deref()
        .filter(|json| !json.trim().is_empty())
        .map(bootstrap::parse)
        .transpose()
        .map_err(Into::into)
}

/// Writes a file readable only by its owner, atomically (temp file, then rename).
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
