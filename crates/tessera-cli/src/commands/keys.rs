//! `tessera keys rotate|list`: the JWT signing keys, run on the server host against the database.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use tessera_core::{
    clock::{Clock, SystemClock},
    seal::SealingKey,
};
use tessera_store::{
    audit::{self, AuditEvent},
    keys as key_store,
};
use time::format_description::well_known::Rfc3339;

use crate::cli::DatabaseArgs;
use tessera_server::service::{jwt::seal_new_key, log_audit_event};

// The group's command line: its clap definition lives beside its body.

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

const NOT_MIGRATED: &str =
    "reading the signing keys (is PostgreSQL reachable and migrated? see `tessera migrate`)";

/// `tessera keys rotate`.
pub async fn keys_rotate(args: KeysRotateArgs) -> anyhow::Result<()> {
    let sealer = SealingKey::from_base64(args.totp_key.trim())
        .map_err(|e| anyhow::anyhow!("--totp-key (TESSERA_TOTP_KEY): {e}"))?;
    let pool = args.database.pool()?;
    let rows = key_store::list(&pool).await.context(NOT_MIGRATED)?;
    if let Some(current) = rows.iter().rev().find(|row| row.retired_at.is_none()) {
        if !args.force && sealer.open(&current.private_sealed).is_err() {
            bail!(
                "the current signing key {} does not open with this --totp-key, so servers would \
                 not be able to sign with the new key either; pass the servers' key (or --force \
                 if their key was changed on purpose)",
                current.kid
            );
        }
    }
    let now = SystemClock.now();
    let (key, row) = seal_new_key(&sealer, now);
    let mut tx = pool.begin().await.context("connecting to the database")?;
    let retired = key_store::rotate(&mut tx, &row).await?;
    let event = AuditEvent {
        at: now,
        action: "keys_rotate",
        outcome: "success",
        actor: None,
        username: None,
        token_id: None,
        detail: json!({ "kid": key.kid(), "retired": retired, "via": "cli" }),
    };
    audit::record(&mut tx, &event).await?;
    log_audit_event(&event);
    tx.commit().await.context("committing the new key")?;
    if args.json {
        println!(
            "{}",
            json!({ "kid": key.kid(), "created_at": now.format(&Rfc3339)?, "retired": retired })
        );
    } else {
        println!("new signing key {} now signs new JWTs", key.kid());
        println!(
            "{retired} older key(s) stopped signing; they keep verifying the tokens they signed"
        );
    }
    Ok(())
}

/// `tessera keys list`.
pub async fn keys_list(args: KeysListArgs) -> anyhow::Result<()> {
    let pool = args.database.pool()?;
    let rows = key_store::list(&pool).await.context(NOT_MIGRATED)?;
    let signing = rows
        .iter()
        .rev()
        .find(|row| row.retired_at.is_none())
        .map(|row| row.kid.clone());
    let format = |at: Option<time::OffsetDateTime>| -> anyhow::Result<String> {
        Ok(match at {
            Some(at) => at.format(&Rfc3339)?,
            None => String::new(),
        })
    };
    if args.json {
        let keys = rows
            .iter()
            .map(|row| {
                Ok(json!({
                    "kid": row.kid,
                    "created_at": format(Some(row.created_at))?,
                    "retired_at": row.retired_at.map(|at| at.format(&Rfc3339)).transpose()?,
                    "not_after": row.not_after.map(|at| at.format(&Rfc3339)).transpose()?,
                    "signing": Some(&row.kid) == signing.as_ref(),
                }))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&keys)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no signing keys yet: a server creates the first at start, or run `tessera keys rotate`");
        return Ok(());
    }
    println!("{:<28} {:<30} {:<30} STATE", "KID", "CREATED", "RETIRED");
    let now = SystemClock.now();
    for row in &rows {
        let state = if Some(&row.kid) == signing.as_ref() {
            "signing"
        } else if row.not_after.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "verifying"
        };
        println!(
            "{:<28} {:<30} {:<30} {state}",
            row.kid,
            format(Some(row.created_at))?,
            format(row.retired_at)?,
        );
    }
    Ok(())
}
