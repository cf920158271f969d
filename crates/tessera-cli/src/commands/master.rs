//! The master token (`tessera token what|reset|set`): run on the server host against the database,
//! because they are how an operator gets in with no token at all. The master token acts for no
//! account, holds every permission and admin rights, never expires, and is never cached, so a
//! reset or set takes effect on the very next call on every replica.

use anyhow::{bail, Context as _};
use serde_json::json;
use tessera_core::clock::{Clock, SystemClock};
use tessera_rules::{
    token::{TokenHash, TokenKind, TokenSecret, MASTER_PREFIX},
    ttl::format_ttl,
};
use tessera_store::{
    audit::{self, AuditEvent},
    tokens::{self as token_store, NewToken},
};
use uuid::Uuid;

use tessera_server::service::log_audit_event;

use crate::{cli::DatabaseArgs, prompt::read_secret};

/// The shortest custom master token accepted.
pub const MIN_CUSTOM_LEN: usize = 32;

/// Checks a custom master token: the prefix, the length, and no whitespace or control characters.
pub fn validate_custom(secret: &str) -> anyhow::Result<()> {
    if !secret.starts_with(MASTER_PREFIX) {
        bail!("a master token must start with {MASTER_PREFIX}");
    }
    if secret.chars().count() < MIN_CUSTOM_LEN {
        bail!("a master token must be at least {MIN_CUSTOM_LEN} characters long");
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) || secret.len() > 512 {
        bail!("a master token must be at most 512 characters without spaces or control characters");
    }
    Ok(())
}

/// A display hint: the prefix and the first four characters after it.
fn hint(secret: &str) -> String {
    let shown: String = secret.chars().take(MASTER_PREFIX.len() + 4).collect();
    format!("{shown}…")
}

/// `tessera token what`.
pub async fn what(database: DatabaseArgs, json_out: bool) -> anyhow::Result<()> {
    let pool = database.pool()?;
    let mut conn = pool.acquire().await.context("connecting to the database")?;
    let Some(master) = token_store::active_master(&mut conn).await? else {
        if json_out {
            println!("{}", json!({ "master": null }));
        } else {
            println!(
                "no master token is set; create one with `tessera token reset` (or `token set`)"
            );
        }
        return Ok(());
    };
    let age = SystemClock.now() - master.issued_at;
    if json_out {
        println!(
            "{}",
            json!({ "token_id": master.id, "prefix": master.description, "issued_at": master.issued_at.unix_timestamp(),
                    "age_seconds": age.whole_seconds() })
        );
    } else {
        println!(
            "master token {}\n  prefix  {}\n  age     {}",
            master.id,
            master.description,
            format_ttl(age)
        );
    }
    Ok(())
}

/// `tessera token reset`: a new random master token; the old one stops working at once.
pub async fn reset(database: DatabaseArgs, json_out: bool) -> anyhow::Result<()> {
    let secret = TokenSecret::generate(TokenKind::Master);
    let id = replace(&database, &secret, "master.reset").await?;
    if json_out {
        println!("{}", json!({ "token": secret.expose(), "token_id": id }));
    } else {
        println!(
            "new master token (shown only now; the old one no longer works):\n  {}\n  id {id}",
            secret.expose()
        );
    }
    Ok(())
}

/// `tessera token set`: a custom master token from a prompt or stdin.
pub async fn set(database: DatabaseArgs, json_out: bool) -> anyhow::Result<()> {
    let secret = read_secret("New master token")?;
    validate_custom(&secret)?;
    let secret = TokenSecret::from_string(secret);
    let id = replace(&database, &secret, "master.set").await?;
    if json_out {
        println!("{}", json!({ "token_id": id }));
    } else {
        println!("master token set (id {id}); the old one no longer works");
    }
    Ok(())
}

async fn replace(
    database: &DatabaseArgs,
    secret: &TokenSecret,
    action: &'static str,
) -> anyhow::Result<Uuid> {
    let pool = database.pool()?;
    let now = SystemClock.now();
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await.context("connecting to the database")?;
    let revoked = token_store::revoke_masters(&mut tx, now).await?;
    token_store::insert(
        &mut tx,
        &NewToken {
            id,
            hash: TokenHash::of(secret.expose()),
            kind: TokenKind::Master,
            subject: None,
            parent_id: None,
            session_id: None,
            namespace: "*".into(),
            permissions: vec!["*".into()],
            elevated: true,
            description: hint(secret.expose()),
            issued_at: now,
            expires_at: None,
            max_uses: None,
        },
    )
    .await
    .context("storing the master token (is it already in use as another token?)")?;
    let event = AuditEvent {
        at: now,
        action,
        outcome: "success",
        actor: None,
        username: None,
        token_id: Some(id),
        detail: json!({ "revoked_previous": revoked }),
    };
    audit::record(&mut tx, &event).await?;
    log_audit_event(&event);
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_master_tokens_need_the_prefix_and_length() {
        assert!(validate_custom("tsr_mst_0123456789abcdefghijklmnop").is_ok());
        assert!(validate_custom("tsr_mst_short").is_err());
        assert!(validate_custom("0123456789abcdefghijklmnopqrstuvwxyz").is_err());
        assert!(validate_custom("tsr_mst_0123456789abcdefghij klmnop").is_err());
        assert_eq!(hint("tsr_mst_abcdefgh"), "tsr_mst_abcd…");
    }
}
