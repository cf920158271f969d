//! `tessera user add|list|disable|enable|role|passwd`: accounts, over gRPC (and `user add` also
//! directly against the database, for the first account).

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use tessera_core::{
    clock::{Clock, SystemClock},
    password::{Argon2Params, PasswordHasher},
    seal::SealingKey,
    totp::TotpSecret,
};
use tessera_rules::role::Role;
use tessera_store::users::{self, NewUser};
use uuid::Uuid;

use serde_json::{json, Value};
use tessera_client::Secret;

use crate::{
    cli::{DatabaseArgs, RemoteArgs},
    prompt::{read_password, read_secret},
    remote::{explain, table, time_text, user_json, Remote},
};

// The group's command line: its clap definition lives beside its body.

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

/// `tessera user …`.
pub async fn run(command: UserCommand, remote: &RemoteArgs) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => user_add(args, remote).await,
        UserCommand::List => user_list(&remote.connect().await?).await,
        UserCommand::Disable { username } => {
            user_disable(&remote.connect().await?, &username, true).await
        }
        UserCommand::Enable { username } => {
            user_disable(&remote.connect().await?, &username, false).await
        }
        UserCommand::Role { username, role } => {
            user_role(&remote.connect().await?, &username, &role).await
        }
        UserCommand::Passwd { username } => {
            let connected = remote.connect().await?;
            let password = Secret::new(read_secret(&format!("New password for {username}"))?);
            user_passwd(&connected, &username, password).await
        }
    }
}

/// `tessera user add`: over gRPC when a token is at hand, else directly in the database.
async fn user_add(args: UserAddArgs, remote: &RemoteArgs) -> anyhow::Result<()> {
    let explicit = remote.explicit_token()?;
    let logged_in = args.database_url.is_none()
        && remote
            .credentials()?
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
        let client = remote.connect().await?;
        return user_add_remote(
            &client,
            args.username.trim(),
            &args.display_name,
            &args.role,
            Secret::new(password.expose().to_owned()),
        )
        .await;
    }
    user_add_direct(args).await
}

/// `tessera user add` straight into the database (on the server host, before any token exists).
async fn user_add_direct(args: UserAddArgs) -> anyhow::Result<()> {
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
    let totp_key = direct_totp_key(&args)?;
    let password = read_password(
        args.password_stdin,
        &format!("Password for {}", args.username),
    )?;
    if password.expose().chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    let hasher = PasswordHasher::new(Argon2Params::default())?;
    let password_hash = tokio::task::spawn_blocking(move || hasher.hash(&password)).await??;
    let pool = database.pool()?;
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

/// The key that seals a TOTP seed enrolled directly in the database (the server's own).
fn direct_totp_key(args: &UserAddArgs) -> anyhow::Result<Option<SealingKey>> {
    match (&args.totp, &args.totp_key) {
        (true, Some(key)) => Ok(Some(
            SealingKey::from_base64(key.trim()).map_err(|e| anyhow::anyhow!("--totp-key: {e}"))?,
        )),
        (true, None) => {
            bail!("--totp needs --totp-key (TESSERA_TOTP_KEY), the same key the server uses")
        }
        (false, _) => Ok(None),
    }
}

/// `tessera user add` over gRPC.
async fn user_add_remote(
    remote: &Remote,
    username: &str,
    display_name: &str,
    role: &str,
    password: Secret,
) -> anyhow::Result<()> {
    let user = remote
        .client
        .create_user(
            tessera_client::NewUser::new(username, role, password).display_name(display_name),
        )
        .await
        .map_err(explain)?;
    remote.print(user_json(&user), || {
        format!(
            "created user {} ({}) with id {}\n",
            user.username, user.role, user.user_id
        )
    });
    Ok(())
}

/// `tessera user list`.
async fn user_list(remote: &Remote) -> anyhow::Result<()> {
    let mut users = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = remote
            .client
            .list_users(500, &page_token)
            .await
            .map_err(explain)?;
        users.extend(page.items);
        if page.next_page_token.is_empty() || users.len() >= 100_000 {
            break;
        }
        page_token = page.next_page_token;
    }
    let value = Value::Array(
        users
            .iter()
            .map(|u| {
                let mut v = user_json(&u.user);
                v["disabled"] = json!(u.disabled);
                v["locked_until"] = json!(u.locked_until.map(|t| time_text(Some(t))));
                v["created_at"] = json!(time_text(u.created_at));
                v
            })
            .collect(),
    );
    remote.print(value, || {
        let rows: Vec<Vec<String>> = users
            .iter()
            .map(|u| {
                let user = u.user.clone();
                let state = if u.disabled {
                    "disabled"
                } else if u.locked_until.is_some() {
                    "locked"
                } else {
                    "active"
                };
                vec![
                    user.username,
                    user.role,
                    if user.totp_enabled {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    state.into(),
                    user.user_id,
                ]
            })
            .collect();
        table(&["USERNAME", "ROLE", "TOTP", "STATE", "ID"], &rows)
    });
    Ok(())
}

/// `tessera user disable|enable`.
async fn user_disable(remote: &Remote, username: &str, disabled: bool) -> anyhow::Result<()> {
    let user = remote
        .client
        .set_user_disabled(username, disabled)
        .await
        .map_err(explain)?;
    let name = user.user.username;
    let verb = if disabled {
        "disabled (its tokens are revoked)"
    } else {
        "enabled"
    };
    remote.print(json!({"username": name, "disabled": user.disabled}), || {
        format!("{name} {verb}\n")
    });
    Ok(())
}

/// `tessera user role`.
async fn user_role(remote: &Remote, username: &str, role: &str) -> anyhow::Result<()> {
    let user = remote
        .client
        .set_role(username, role)
        .await
        .map_err(explain)?;
    remote.print(user_json(&user), || {
        format!("{} is now {}\n", user.username, user.role)
    });
    Ok(())
}

/// `tessera user passwd`.
async fn user_passwd(remote: &Remote, username: &str, password: Secret) -> anyhow::Result<()> {
    remote
        .client
        .set_password(username, password)
        .await
        .map_err(explain)?;
    remote.print(
        json!({"username": username, "password_changed": true}),
        || format!("password of {username} changed; its sessions and tokens are revoked\n"),
    );
    Ok(())
}
