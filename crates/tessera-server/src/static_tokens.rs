//! Static tokens from a TOML file (`--tokens-file`), the seed's format:
//!
//! ```toml
//! [token.deploy-bot]
//! secret = "a long random secret"
//! namespace = "deploy."
//! permissions = ["read"]            # optional, default none
//! expires = "2027-01-01T00:00:00Z"  # optional, RFC 3339
//! ```
//!
//! The file is validated as a whole (duplicate secrets, empty namespaces, missing fields, unknown
//! keys and bad TOML are refused, naming the file, line and token), then stored like any token: only
//! as SHA-256 hashes, in one transaction. On `SIGHUP` the file is read again; a bad file keeps the
//! set in force (and says why in the log); tokens removed or changed are revoked through the
//! revocation feed, so they stop working at once on every replica.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use serde::Deserialize;
use serde_json::json;
use tessera_rules::{
    namespace::Namespace,
    permission::PermissionSet,
    token::{TokenHash, TokenKind},
};
use tessera_store::{
    audit::{self, AuditEvent},
    tokens::{self as token_store, NewToken},
    StoreError,
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use toml::Spanned;
use tracing::{info, warn};
use uuid::Uuid;

use crate::{error::ApiError, service::Authority};

const MIN_SECRET: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    token: BTreeMap<String, Spanned<StaticEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticEntry {
    secret: String,
    namespace: String,
    #[serde(default)]
    permissions: Vec<String>,
    expires: Option<toml::Value>,
}

/// One static token, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// Its name in the file.
    pub name: String,
    /// Hash of its secret.
    pub hash: TokenHash,
    /// Namespace.
    pub namespace: Namespace,
    /// Permissions.
    pub permissions: PermissionSet,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads and validates a tokens file. Errors name the file, the line and the token; never a secret.
pub fn load(path: &Path) -> anyhow::Result<Vec<StaticToken>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Validates the text of a tokens file.
pub fn parse(text: &str) -> anyhow::Result<Vec<StaticToken>> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!("line {}: ", line_of(text, s.start)))
            .unwrap_or_default();
        anyhow::anyhow!("{line}{}", e.message())
    })?;
    let mut seen: HashMap<TokenHash, String> = HashMap::new();
    let mut tokens = Vec::with_capacity(file.token.len());
    for (name, entry) in file.token {
        let line = line_of(text, entry.span().start);
        let entry = entry.into_inner();
        let problem = |what: String| anyhow::anyhow!("line {line}: token {name:?}: {what}");
        if entry.secret.chars().count() < MIN_SECRET {
            return Err(problem(format!(
                "secret must be at least {MIN_SECRET} characters"
            )));
        }
        if entry
            .secret
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(problem(
                "secret must not contain whitespace or control characters".into(),
            ));
        }
        if tessera_core::jwt::looks_like_jwt(&entry.secret) {
            return Err(problem(
                "secret is shaped like a JWT, which Introspect verifies as one; pick another"
                    .into(),
            ));
        }
        if entry.namespace.trim().is_empty() {
            return Err(problem(
                "namespace is empty (use \"*\" for every identifier)".into(),
            ));
        }
        let namespace =
            Namespace::parse(&entry.namespace).map_err(|e| problem(format!("namespace {e}")))?;
        let permissions =
            PermissionSet::parse(&entry.permissions).map_err(|e| problem(e.to_string()))?;
        let expires_at = match entry.expires {
            None => None,
            Some(value) => {
                let text = match &value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Datetime(d) => d.to_string(),
                    _ => return Err(problem("expires must be an RFC 3339 date-time".into())),
                };
                Some(OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| {
                    problem(format!(
                        "expires {text:?} is not an RFC 3339 date-time with offset"
                    ))
                })?)
            }
        };
        let hash = TokenHash::of(&entry.secret);
        if let Some(other) = seen.insert(hash, name.clone()) {
            return Err(problem(format!("has the same secret as token {other:?}")));
        }
        tokens.push(StaticToken {
            name,
            hash,
            namespace,
            permissions,
            expires_at,
        });
    }
    Ok(tokens)
}

/// Makes the stored static tokens exactly `tokens`, in one transaction: unchanged ones stay,
/// removed or changed ones are revoked (feed and local cache) and replaced. Returns (added, removed).
pub async fn sync(
    authority: &Authority,
    tokens: &[StaticToken],
) -> Result<(usize, usize), ApiError> {
    let now = authority.now();
    let mut tx = authority.pool().begin().await.map_err(StoreError::from)?;
    let existing = token_store::static_rows(&mut tx).await?;
    let same = |row: &token_store::StaticRow, t: &StaticToken| {
        row.hash.as_slice() == t.hash.as_bytes()
            && row.namespace == t.namespace.as_str()
            && row.permissions == t.permissions.to_vec()
            && row.expires_at == t.expires_at
            && row.description == t.name
    };
    let stale: Vec<Uuid> = existing
        .iter()
        .filter(|row| !tokens.iter().any(|t| same(row, t)))
        .map(|row| row.id)
        .collect();
    let fresh: Vec<&StaticToken> = tokens
        .iter()
        .filter(|t| !existing.iter().any(|row| same(row, t)))
        .collect();
    let revoked = token_store::retire_static(&mut tx, &stale, now).await?;
    for token in &fresh {
        token_store::insert(
            &mut tx,
            &NewToken {
                id: Uuid::new_v4(),
                hash: token.hash,
                kind: TokenKind::Static,
                subject: None,
                parent_id: None,
                session_id: None,
                namespace: token.namespace.as_str().to_owned(),
                permissions: token.permissions.to_vec(),
                elevated: false,
                description: token.name.clone(),
                issued_at: now,
                expires_at: token.expires_at,
                max_uses: None,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => ApiError::Internal(format!(
                "the secret of static token {:?} is already used by another token",
                token.name
            )),
            other => other.into(),
        })?;
    }
    if !stale.is_empty() || !fresh.is_empty() {
        let event = AuditEvent {
            at: now,
            action: "static_tokens.load",
            outcome: "success",
            actor: None,
            username: None,
            token_id: None,
            detail: json!({
                "added": fresh.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
                "removed": stale.len(),
            }),
        };
        audit::record(&mut tx, &event).await?;
        crate::service::log_audit_event(&event);
    }
    tx.commit().await.map_err(StoreError::from)?;
    let hashes: Vec<TokenHash> = revoked
        .iter()
        .filter_map(|r| TokenHash::from_slice(&r.token_hash))
        .collect();
    authority.cache().invalidate(hashes.iter());
    Ok((fresh.len(), stale.len()))
}

/// Loads the file at start-up (an error stops start-up), then reloads it on every `SIGHUP`.
pub async fn install(authority: &Authority, path: PathBuf) -> anyhow::Result<()> {
    let tokens = load(&path)?;
    let (added, removed) = sync(authority, &tokens)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    info!(file = %path.display(), tokens = tokens.len(), added, removed, "static tokens loaded");
    let authority = authority.clone();
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match load(&path) {
                Err(err) => {
                    warn!(error = %err, "static tokens file refused on SIGHUP; keeping the tokens in force")
                }
                Ok(tokens) => match sync(&authority, &tokens).await {
                    Ok((added, removed)) => {
                        info!(file = %path.display(), tokens = tokens.len(), added, removed, "static tokens reloaded")
                    }
                    Err(err) => {
                        warn!(error = %err, "static tokens reload failed; keeping the tokens in force")
                    }
                },
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_parses() {
        let tokens = parse(
            r#"
[token.deploy]
secret = "0123456789abcdef-deploy"
namespace = "deploy."
permissions = ["read"]

[token.all]
secret = "0123456789abcdef-all"
namespace = "*"
expires = "2030-01-01T00:00:00Z"
"#,
        )
        .unwrap();
        assert_eq!(tokens.len(), 2);
        let deploy = tokens.iter().find(|t| t.name == "deploy").unwrap();
        assert_eq!(deploy.namespace.as_str(), "deploy.");
        assert!(deploy.permissions.permits("read"));
        assert!(tokens.iter().any(|t| t.expires_at.is_some()));
        assert!(parse("").unwrap().is_empty());
    }

    fn refused(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn each_bad_file_names_the_problem_line_and_token_never_the_secret() {
        let dup = refused(
            "[token.a]\nsecret = \"0123456789abcdef-x\"\nnamespace = \"a.\"\n\n[token.b]\nsecret = \"0123456789abcdef-x\"\nnamespace = \"b.\"\n",
        );
        assert!(
            dup.contains("line 5")
                && dup.contains("\"b\"")
                && dup.contains("same secret as token \"a\""),
            "{dup}"
        );
        assert!(!dup.contains("0123456789abcdef-x"));
        let empty = refused("[token.a]\nsecret = \"0123456789abcdef-x\"\nnamespace = \"\"\n");
        assert!(
            empty.contains("line 1")
                && empty.contains("\"a\"")
                && empty.contains("namespace is empty"),
            "{empty}"
        );
        let missing = refused("[token.a]\nnamespace = \"a.\"\n");
        assert!(
            missing.contains("missing field `secret`") && missing.contains("line"),
            "{missing}"
        );
        let unknown = refused(
            "[token.a]\nsecret = \"0123456789abcdef-x\"\nnamespace = \"a.\"\nscope = \"x\"\n",
        );
        assert!(
            unknown.contains("scope") && unknown.contains("line 4"),
            "{unknown}"
        );
        let bad = refused("[token.a\nsecret = 1");
        assert!(bad.contains("line 1"), "{bad}");
        let short = refused("[token.a]\nsecret = \"short\"\nnamespace = \"a.\"\n");
        assert!(short.contains("at least 16"), "{short}");
        let expires = refused("[token.a]\nsecret = \"0123456789abcdef-x\"\nnamespace = \"a.\"\nexpires = \"tomorrow\"\n");
        assert!(expires.contains("RFC 3339"), "{expires}");
    }
}
