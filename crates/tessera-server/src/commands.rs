//! What each `tessera` command does, given its validated flags.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tessera_core::{
    clock::{Clock, SystemClock},
    password::{Argon2Params, Password, PasswordHasher},
    role::Role,
    seal::SealingKey,
    token::TokenKind,
    totp::TotpSecret,
};
use tessera_store::{
    embedded::{EmbeddedOptions, EmbeddedPostgres},
    users::{self, NewUser},
    PgPool, PoolSettings,
};
use tracing::info;
use uuid::Uuid;

use crate::{
    bootstrap,
    cli::{AuthArgs, DatabaseArgs, DevArgs, ServeArgs, UserAddArgs},
    server::Server,
    service::IssueRequest,
    settings::Redacted,
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

/// `tessera serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let auth = args.auth.settings()?;
    let plan = bootstrap_plan(&args.auth)?;
    let pool = pool_for(&args.database)?;
    if !args.skip_migrations {
        tessera_store::migrate(&pool)
            .await
            .context("running migrations (is PostgreSQL reachable at --database-url?)")?;
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server = Server::bind(
        pool.clone(),
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
    if remote.token.is_some() || remote.token_file.is_some() {
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

fn bootstrap_plan(auth: &AuthArgs) -> anyhow::Result<Option<bootstrap::BootstrapPlan>> {
    auth.bootstrap_accounts_json
        .as_deref()
        .filter(|json| !json.trim().is_empty())
        .map(bootstrap::parse)
        .transpose()
        .map_err(Into::into)
}

/// The dev admin's credentials, kept in the data directory so later runs can log in again.
#[derive(Serialize, Deserialize)]
struct DevAdmin {
    username: String,
    password: String,
}

/// What `dev --ready-file` writes once serving.
#[derive(Serialize)]
struct ReadyInfo<'a> {
    grpc_addr: String,
    database_url: &'a str,
    admin_username: &'a str,
    admin_password: &'a str,
    admin_token: &'a str,
    service_token: &'a str,
    pid: u32,
}

/// `tessera dev`.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let mut auth = args.auth.settings()?;
    let plan = bootstrap_plan(&args.auth)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating --data-dir {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;

    let postgres = EmbeddedPostgres::start(EmbeddedOptions {
        data_dir: data_dir.clone(),
        bin_dir: args.pg_bin_dir.clone(),
    })
    .await
    .context("starting the embedded PostgreSQL")?;
    let result = dev_with_postgres(&postgres, &data_dir, &mut auth, plan, &args).await;
    if let Err(err) = postgres.shutdown().await {
        tracing::warn!(error = %err, "stopping the embedded postgresql failed");
    }
    result
}

async fn dev_with_postgres(
    postgres: &EmbeddedPostgres,
    data_dir: &Path,
    auth: &mut crate::settings::AuthSettings,
    plan: Option<bootstrap::BootstrapPlan>,
    args: &DevArgs,
) -> anyhow::Result<()> {
    postgres.ensure_database("tessera").await?;
    let database_url = postgres.database_url("tessera");
    let pool = tessera_store::connect_lazy(&database_url, &PoolSettings::default())?;
    tessera_store::migrate(&pool)
        .await
        .context("running migrations")?;
    if auth.totp_key.is_none() {
        auth.totp_key = Some(Redacted(dev_totp_key(&data_dir.join("totp.key"))?));
    }

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let server = Server::bind(
        pool.clone(),
        Arc::clone(&clock),
        auth.clone(),
        args.listen.settings()?,
    )
    .await?;
    let authority = server.authority().clone();
    if let Some(plan) = plan {
        bootstrap::apply(plan, &authority, &pool, clock.as_ref()).await?;
    }
    crate::sweeper::start_background(&authority, &args.auth).await?;
    let admin = dev_admin(
        &data_dir.join("dev-admin.json"),
        &authority,
        &pool,
        clock.as_ref(),
    )
    .await?;
    let session = authority
        .login(&admin.username, Password::new(admin.password.clone()), "")
        .await
        .map_err(|e| anyhow::anyhow!("logging in the dev admin: {e}"))?;
    let caller = authority
        .authenticate(Some(&session.token))
        .await
        .map_err(|e| anyhow::anyhow!("dev admin session: {e}"))?;
    let service = authority
        .issue(
            &caller,
            IssueRequest {
                // As long as the admin session it derives from (a child never outlives its parent).
                ttl: caller
                    .expires_at
                    .map(|at| tessera_core::ttl::format_ttl(at - clock.now()))
                    .unwrap_or_default(),
                permissions: vec!["introspect".into()],
                description: "dev service token (introspect only)".into(),
                kind: TokenKind::Service,
                ..IssueRequest::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("issuing the dev service token: {e}"))?;

    let addr = server.local_addr()?;
    println!(
        "\nTessera dev is running.\n\
         \n  gRPC            {addr}   (plaintext; reflection on)\
         \n  PostgreSQL      {database_url}\
         \n  admin login     {} / {}\
         \n  admin session   {}\
         \n  service token   {}   (introspect only)\
         \n\nTry it:\
         \n  grpcurl -plaintext {addr} list\
         \n  grpcurl -plaintext -H 'authorization: Bearer {}' -d '{{\"token\": \"{}\"}}' {addr} tessera.v1.AuthService/Introspect\
         \n\nAdd a user:  TESSERA_DATABASE_URL='{database_url}' TESSERA_TOTP_KEY=$(cat {}) tessera user add --username alice --totp\
         \nStop with Ctrl-C.\n",
        admin.username,
        admin.password,
        session.token.expose(),
        service.token.expose(),
        service.token.expose(),
        session.token.expose(),
        data_dir.join("totp.key").display(),
    );
    if let Some(path) = &args.ready_file {
        let info = ReadyInfo {
            grpc_addr: addr.to_string(),
            database_url: &database_url,
            admin_username: &admin.username,
            admin_password: &admin.password,
            admin_token: session.token.expose(),
            service_token: service.token.expose(),
            pid: std::process::id(),
        };
        write_private(path, serde_json::to_string_pretty(&info)?.as_bytes())
            .with_context(|| format!("writing --ready-file {}", path.display()))?;
    }
    // Serve first: the edges check their service token against this server as they start.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        tokio::select! {
            () = shutdown_signal() => {}
            _ = stop_rx => {}
        }
    }));
    let edges = if args.edges.edges {
        match crate::dev_edges::Edges::start(&args.edges, addr, service.token.expose(), data_dir)
            .await
        {
            Ok(edges) => {
                println!("{}", edges.banner(addr, session.token.expose()));
                Some(edges)
            }
            Err(err) => {
                let _ = stop_tx.send(());
                let _ = serving.await;
                return Err(err);
            }
        }
    } else {
        None
    };
    let served = serving.await.context("the gRPC server task failed");
    drop(stop_tx);
    if let Some(edges) = edges {
        edges.stop().await;
    }
    served?
}

async fn dev_admin(
    path: &Path,
    authority: &crate::service::Authority,
    pool: &PgPool,
    clock: &dyn Clock,
) -> anyhow::Result<DevAdmin> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid; delete it to start over", path.display()));
    }
    let admin = DevAdmin {
        username: "admin".into(),
        password: random_password(),
    };
    if users::find_by_username(pool, &admin.username)
        .await?
        .is_some()
    {
        bail!(
            "the dev database has an admin account but {} is missing; delete the data directory to start over",
            path.display()
        );
    }
    let password_hash = authority
        .hash_password(Password::new(admin.password.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn = pool.acquire().await?;
    users::insert(
        &mut conn,
        &NewUser {
            id: Uuid::new_v4(),
            username: admin.username.clone(),
            display_name: "Dev Admin".into(),
            role: Role::Admin,
            password_hash,
            created_at: clock.now(),
        },
    )
    .await?;
    write_private(path, serde_json::to_string(&admin)?.as_bytes())?;
    Ok(admin)
}

fn dev_totp_key(path: &Path) -> anyhow::Result<SealingKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => SealingKey::from_base64(text.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(_) => {
            let key = SealingKey::generate();
            write_private(path, key.to_base64().as_bytes())?;
            Ok(key)
        }
    }
}

fn random_password() -> String {
    use rand::{distributions::Alphanumeric, Rng};
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Writes a file readable only by its owner, atomically (temp file, then rename).
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
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
