//! Accounts bootstrapped at start-up from `TESSERA_BOOTSTRAP_ACCOUNTS_JSON`, idempotently: an
//! existing username is left exactly as it is.

use serde::Deserialize;
use serde_json::json;
use tessera_core::{clock::Clock, password::Password};
use tessera_rules::role::Role;
use tessera_store::{
    audit::{self, AuditEvent},
    users::{self, NewUser},
    PgPool, StoreError,
};
use thiserror::Error;
use tracing::info;
use uuid::Uuid;

use crate::service::Authority;

/// One account to ensure.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapAccount {
    /// Login name.
    pub username: String,
    /// Initial password (hashed before it is stored).
    pub password: String,
    /// Role name.
    pub role: String,
    /// Human-readable name.
    #[serde(default)]
    pub display_name: String,
}

impl std::fmt::Debug for BootstrapAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAccount")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Why the bootstrap list was refused; start-up stops with this message.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// Not valid JSON of the expected shape.
    #[error("TESSERA_BOOTSTRAP_ACCOUNTS_JSON is not a JSON list of {{username, password, role, display_name}}: {0}")]
    Malformed(String),
    /// One entry is invalid.
    #[error("TESSERA_BOOTSTRAP_ACCOUNTS_JSON entry {index} ({username:?}): {problem}")]
    Entry {
        /// Position in the list.
        index: usize,
        /// Its username (never the password).
        username: String,
        /// What is wrong.
        problem: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error("hashing a bootstrap password failed: {0}")]
    Hash(String),
}

/// A validated account list.
pub struct BootstrapPlan(Vec<(BootstrapAccount, Role)>);

/// Parses and validates the JSON before anything is written.
pub fn parse(json_text: &str) -> Result<BootstrapPlan, BootstrapError> {
    let accounts: Vec<BootstrapAccount> = serde_json::from_str(json_text).map_err(|e| {
        // Only the position and the kind of problem: serde's own message can echo a value, and a
        // value here may be a password.
        let kind = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "invalid JSON"
            }
            serde_json::error::Category::Data => "wrong shape or unknown field",
            serde_json::error::Category::Io => "unreadable input",
        };
        BootstrapError::Malformed(format!("{kind} at line {} column {}", e.line(), e.column()))
    })?;
    let mut plan = Vec::with_capacity(accounts.len());
    let mut seen = std::collections::HashSet::new();
    for (index, account) in accounts.into_iter().enumerate() {
        let problem = |problem: String| BootstrapError::Entry {
            index,
            username: account.username.clone(),
            problem,
        };
        if account.username.trim().is_empty()
            || account
                .username
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(problem("username must be non-empty without spaces".into()));
        }
        if account.password.len() < 8 {
            return Err(problem("password must be at least 8 characters".into()));
        }
        let role: Role = account
            .role
            .parse()
            .map_err(|e: tessera_rules::role::RoleError| problem(e.to_string()))?;
        if !seen.insert(account.username.clone()) {
            return Err(problem("username appears twice".into()));
        }
        plan.push((account, role));
    }
    Ok(BootstrapPlan(plan))
}

/// Creates the accounts that do not exist yet; returns how many were created.
pub async fn apply(
    plan: BootstrapPlan,
    authority: &Authority,
    pool: &PgPool,
    clock: &dyn Clock,
) -> Result<usize, BootstrapError> {
    let mut created = 0;
    for (account, role) in plan.0 {
        if users::find_by_username(pool, &account.username)
            .await?
            .is_some()
        {
            continue;
        }
        let password_hash = authority
            .hash_password(Password::new(account.password))
            .await
            .map_err(|e| BootstrapError::Hash(e.to_string()))?;
        let id = Uuid::new_v4();
        let now = clock.now();
        let mut tx = pool.begin().await.map_err(StoreError::from)?;
        let inserted = users::insert_if_absent(
            &mut tx,
            &NewUser {
                id,
                username: account.username.clone(),
                display_name: account.display_name.clone(),
                role,
                password_hash,
                created_at: now,
            },
        )
        .await?;
        if inserted {
            let event = AuditEvent {
                at: now,
                action: "bootstrap",
                outcome: "success",
                actor: Some(id),
                username: Some(account.username.clone()),
                token_id: None,
                detail: json!({ "role": role.as_str() }),
            };
            audit::record(&mut tx, &event).await?;
            crate::service::log_audit_event(&event);
            created += 1;
            info!(username = %account.username, role = role.as_str(), "bootstrapped account");
        }
        tx.commit().await.map_err(StoreError::from)?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bad_entry_and_never_the_password() {
        let err = parse(r#"[{"username":"a","password":"longenough","role":"user"},{"username":"b","password":"hunter2222","role":"wizard"}]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("entry 1"), "{err}");
        assert!(err.contains("\"b\""), "{err}");
        assert!(err.contains("wizard"), "{err}");
        assert!(!err.contains("hunter2222"), "{err}");
    }

    #[test]
    fn malformed_json_is_refused() {
        assert!(matches!(
            parse("{not json"),
            Err(BootstrapError::Malformed(_))
        ));
        assert!(matches!(
            parse(r#"[{"username":"a"}]"#),
            Err(BootstrapError::Malformed(_))
        ));
        assert!(matches!(
            parse(r#"[{"username":"a","password":"longenough","role":"user","extra":1}]"#),
            Err(BootstrapError::Malformed(_))
        ));
    }

    #[test]
    fn accepts_the_documented_shape() {
        let plan = parse(r#"[{"username":"root","password":"correct horse","role":"root","display_name":"Root Admin"}]"#).unwrap();
        assert_eq!(plan.0.len(), 1);
        assert_eq!(plan.0[0].1, Role::Root);
    }
}
