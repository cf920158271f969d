//! `tessera serve`, `migrate` and `hash-password`: what runs on the server host.

use std::sync::Arc;

use anyhow::Context as _;
use tessera_core::{
    clock::{Clock, SystemClock},
    password::{Argon2Params, PasswordHasher},
};
use tessera_server::{bootstrap, server::Server};
use tessera_store::PoolSettings;

use crate::{
    cli::{DatabaseArgs, ServeArgs},
    prompt::read_password,
};

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub use tessera_process::signal::shutdown as shutdown_signal;

/// Direct sessions a replica holds at most: the revocation feed's LISTEN and its catch-up reads,
/// the JWT key changes' LISTEN, and the migration lock at start-up.
const DIRECT_CONNECTIONS: u32 = 4;

/// `tessera serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let auth = args.auth.settings()?;
    let auth_settings = auth.clone();
    let plan = args.auth.bootstrap_plan()?;
    let pool = args.database.pool()?;
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
    tessera_server::server::start_background(
        server.authority(),
        args.auth.sweeper_settings(&auth_settings)?,
        args.auth.tokens_file.clone(),
    )
    .await?;
    server.serve(shutdown_signal()).await
}

/// `tessera migrate`.
pub async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let pool = args.pool()?;
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
