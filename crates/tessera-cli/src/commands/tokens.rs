//! `tessera token issue|list|show|revoke|check`.

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tessera_client::{IssueToken, RevokeTarget, Secret, TokenFormat, TokenInfo, TokenKind};
use tessera_rules::{token::check_format, ttl::parse_ttl};

use crate::cli::DatabaseArgs;
use crate::{
    cli::RemoteArgs,
    prompt::read_secret,
    remote::{explain, table, time_text, Remote},
};

// The group's command line: its clap definition lives beside its body.

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token derived from yours (never broader than it); the secret is printed once.
    Issue(TokenIssueArgs),
    /// List your tokens, or another account's with --user (admin rights needed).
    List {
        /// The account (default: yours).
        #[arg(long)]
        user: Option<String>,
        /// Include revoked, expired and used-up tokens.
        #[arg(long)]
        all: bool,
    },
    /// Show one token by id (never its secret).
    Show {
        /// The token id.
        token_id: String,
    },
    /// Revoke a token and everything derived from it.
    Revoke(TokenRevokeArgs),
    /// Ask the server what a token is (active, account, namespace, permissions, expiry) without
    /// spending one of its uses: the CLI's `grpcurl … Introspect` with `peek`. Acting with a
    /// token that holds `introspect`. Reads the token from stdin when none (or `-`) is given.
    Introspect {
        /// The token to ask about (omit or `-` to read stdin, which keeps it out of shell
        /// history). Its own id: the global `--token` (who asks) is another argument.
        #[arg(id = "introspected", value_name = "TOKEN")]
        token: Option<String>,
    },
    /// Say whether a string is a well-formed Tessera token (grammar and checksum), offline. Reads
    /// the token from stdin when none (or `-`) is given.
    Check {
        /// The token (omit or `-` to read stdin, which keeps it out of shell history). Its own id:
        /// sharing the global `--token`'s would fill it from TESSERA_TOKEN.
        #[arg(id = "checked", value_name = "TOKEN")]
        token: Option<String>,
    },
    /// Show the master token's id, prefix and age (run on the server host; never the secret).
    What(DatabaseArgs),
    /// Mint a new random master token, revoking the old one at once; prints the new secret once.
    Reset(DatabaseArgs),
    /// Set a custom master token read from a prompt or stdin (never argv): it must start with
    /// `tsr_mst_` and be at least 32 characters. The old one is revoked at once.
    Set(DatabaseArgs),
}

/// Flags of `token issue`.
#[derive(Debug, Args)]
pub struct TokenIssueArgs {
    /// Lifetime, e.g. 15m, 7d (default: the server's, capped by your token).
    #[arg(long)]
    pub ttl: Option<String>,
    /// Use limit (1 = single-use).
    #[arg(long)]
    pub max_uses: Option<u32>,
    /// Single-use (same as --max-uses 1).
    #[arg(long, conflicts_with = "max_uses")]
    pub single_use: bool,
    /// Namespace prefix the token may touch, or * (default: yours).
    #[arg(long)]
    pub namespace: Option<String>,
    /// A permission to grant (repeatable; default: yours).
    #[arg(long = "permission", short = 'p')]
    pub permissions: Vec<String>,
    /// Free text shown in listings.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Issue a least-privileged service token (refused if it would hold admin rights).
    #[arg(long)]
    pub service: bool,
    /// Issue a signed JWT instead of an opaque token.
    #[arg(long)]
    pub jwt: bool,
}

/// What `token revoke` names.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token id to revoke (with everything derived from it).
    pub token_id: Option<String>,
    /// Revoke every token of this session id instead.
    #[arg(long, conflicts_with_all = ["token_id", "user", "secret_stdin"])]
    pub session: Option<String>,
    /// Revoke every token of this account id instead.
    #[arg(long, conflicts_with_all = ["token_id", "secret_stdin"])]
    pub user: Option<String>,
    /// Read a token secret from standard input and revoke that token.
    #[arg(long, conflicts_with = "token_id")]
    pub secret_stdin: bool,
    /// Why (kept in the audit trail).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `tessera token …`, but for the master token's commands (`what`, `reset`, `set`), which run
/// against the database and are dispatched to `master` before this.
pub async fn run(command: TokenCommand, remote: &RemoteArgs) -> anyhow::Result<()> {
    match command {
        TokenCommand::Check { token } => token_check(token, remote.json),
        TokenCommand::Introspect { token } => {
            token_introspect(&remote.connect().await?, token).await
        }
        TokenCommand::Issue(args) => token_issue(&remote.connect().await?, args).await,
        TokenCommand::List { user, all } => token_list(&remote.connect().await?, user, all).await,
        TokenCommand::Show { token_id } => token_show(&remote.connect().await?, &token_id).await,
        TokenCommand::Revoke(args) => token_revoke(&remote.connect().await?, args).await,
        TokenCommand::What(_) | TokenCommand::Reset(_) | TokenCommand::Set(_) => {
            unreachable!("the master token's commands are dispatched before")
        }
    }
}

fn token_json(token: &TokenInfo) -> Value {
    json!({
        "token_id": token.token_id, "kind": token.kind.map_or("-", TokenKind::as_str), "subject": token.subject,
        "parent_id": token.parent_id, "session_id": token.session_id, "namespace": token.namespace,
        "permissions": token.permissions, "elevated": token.elevated, "description": token.description,
        "issued_at": time_text(token.issued_at), "expires_at": token.expires_at.map(|t| time_text(Some(t))),
        "uses_remaining": token.uses_remaining, "max_uses": token.max_uses,
        "revoked_at": token.revoked_at.map(|t| time_text(Some(t))),
    })
}

/// Why a listed token is (in)active, as far as the listing tells.
fn token_state(token: &TokenInfo) -> &'static str {
    let now = time::OffsetDateTime::now_utc();
    if token.revoked_at.is_some() {
        "revoked"
    } else if token.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else if token.uses_remaining == Some(0) {
        "used up"
    } else {
        "active"
    }
}

fn token_rows(tokens: &[TokenInfo]) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.token_id.clone(),
                t.kind.map_or("-", TokenKind::as_str).into(),
                t.namespace.clone(),
                t.permissions.join(","),
                time_text(t.expires_at),
                t.uses_remaining
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                if t.parent_id.is_empty() {
                    "-".into()
                } else {
                    t.parent_id.clone()
                },
                token_state(t).into(),
                t.description.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TOKEN ID",
            "KIND",
            "NAMESPACE",
            "PERMISSIONS",
            "EXPIRES",
            "USES LEFT",
            "PARENT",
            "STATE",
            "DESCRIPTION",
        ],
        &rows,
    )
}

/// `tessera token issue`.
async fn token_issue(remote: &Remote, args: TokenIssueArgs) -> anyhow::Result<()> {
    if let Some(ttl) = &args.ttl {
        parse_ttl(ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
    }
    let request = IssueToken {
        max_uses: if args.single_use {
            Some(1)
        } else {
            args.max_uses
        },
        namespace: args.namespace.unwrap_or_default(),
        permissions: args.permissions,
        description: args.description,
        format: if args.jwt {
            TokenFormat::Jwt
        } else {
            TokenFormat::Opaque
        },
        kind: if args.service {
            Some(TokenKind::Service)
        } else {
            Some(TokenKind::Api)
        },
        // Empty: the server's default lifetime (capped by the parent's).
        ..IssueToken::new(args.ttl.unwrap_or_default())
    };
    let issued = remote.client.issue_token(request).await.map_err(explain)?;
    remote.print(
        json!({
            "token": issued.token.expose(), "token_id": issued.token_id,
            "expires_at": issued.expires_at.map(|t| time_text(Some(t))),
            "namespace": issued.namespace, "permissions": issued.permissions, "max_uses": issued.max_uses,
        }),
        || {
            format!(
                "token     {}\ntoken id  {}\nexpires   {}\nnamespace {}\nperms     {}\nmax uses  {}\n(the token is shown only now)\n",
                issued.token.expose(),
                issued.token_id,
                time_text(issued.expires_at),
                issued.namespace,
                issued.permissions.join(","),
                issued.max_uses.map(|n| n.to_string()).unwrap_or_else(|| "unlimited".into()),
            )
        },
    );
    Ok(())
}

/// `tessera token list`.
async fn token_list(remote: &Remote, user: Option<String>, all: bool) -> anyhow::Result<()> {
    let tokens = remote
        .client
        .list_tokens(&user.unwrap_or_default(), all)
        .await
        .map_err(explain)?;
    remote.print(
        Value::Array(tokens.iter().map(token_json).collect()),
        || token_rows(&tokens),
    );
    Ok(())
}

/// `tessera token show`.
async fn token_show(remote: &Remote, token_id: &str) -> anyhow::Result<()> {
    let token = remote.client.get_token(token_id).await.map_err(explain)?;
    let value = token_json(&token);
    remote.print(value.clone(), || {
        let mut out = String::new();
        if let Value::Object(map) = &value {
            for (key, v) in map {
                let text = match v {
                    Value::String(s) if s.is_empty() => "-".to_owned(),
                    Value::String(s) => s.clone(),
                    Value::Null => "-".to_owned(),
                    other => other.to_string(),
                };
                out.push_str(&format!("{key:<15} {text}\n"));
            }
        }
        out
    });
    Ok(())
}

/// `tessera token revoke`.
async fn token_revoke(remote: &Remote, args: TokenRevokeArgs) -> anyhow::Result<()> {
    let target = if args.secret_stdin {
        RevokeTarget::Token(Secret::new(read_secret("Token to revoke")?))
    } else if let Some(session) = args.session {
        RevokeTarget::SessionId(session)
    } else if let Some(user) = args.user {
        RevokeTarget::Subject(user)
    } else if let Some(id) = args.token_id {
        RevokeTarget::TokenId(id)
    } else {
        bail!("name what to revoke: a token id, --session, --user or --secret-stdin");
    };
    let named = match &target {
        RevokeTarget::TokenId(id) => Some(format!("token id {id}")),
        RevokeTarget::Token(_) => Some("the given token".to_owned()),
        _ => None,
    };
    let revoked = remote
        .client
        .revoke_everywhere(target, &args.reason, true)
        .await
        .map_err(explain)?;
    let count = revoked.count;
    // One named token that revoked nothing is unknown, already revoked or expired: say so and
    // fail, so a typo in a script is not taken for a revocation.
    if let (0, Some(named)) = (count, &named) {
        bail!("nothing revoked: no active token matches {named} (unknown, already revoked or expired; see `tessera token list --all`)");
    }
    let value = json!({
        "revoked_count": count,
        "everywhere": revoked.everywhere,
        "acknowledged": revoked.acknowledged,
        "lapsed": revoked.lapsed,
    });
    remote.print(value, || {
        let mut out = format!("revoked {count} token(s)\n");
        if !revoked.lapsed.is_empty() {
            out.push_str(&format!(
                "not acknowledged in time, so serving nothing from cache until current again: {}\n",
                revoked.lapsed.join(", ")
            ));
        }
        if count > 0 && !revoked.everywhere {
            out.push_str("committed, but Tessera could not tell whether every replica and edge has it yet (it reaches them within their lease)\n");
        }
        out
    });
    Ok(())
}

/// `tessera token introspect`: the server's view of a token, peeking (no use spent).
async fn token_introspect(remote: &Remote, token: Option<String>) -> anyhow::Result<()> {
    let token = match token {
        Some(t) if t != "-" => t,
        _ => read_secret("Token to introspect")?,
    };
    let seen = remote.client.peek(token.trim()).await.map_err(explain)?;
    let value = json!({
        "active": seen.active, "token_id": seen.token_id, "kind": seen.kind.map_or("-", TokenKind::as_str),
        "subject": seen.subject, "username": seen.username, "roles": seen.roles,
        "permissions": seen.permissions, "namespace": seen.namespace,
        "issued_at": time_text(seen.issued_at), "expires_at": time_text(seen.expires_at),
        "elevated": seen.elevated, "uses_remaining": seen.uses_remaining, "session_id": seen.session_id,
    });
    remote.print(value, || {
        if !seen.active {
            // RFC 7662: an inactive token tells nothing more.
            return "active          false\n".to_owned();
        }
        format!(
            "active          true\ntoken id        {}\nkind            {}\nuser            {} ({})\nroles           {}\nnamespace       {}\npermissions     {}\nissued          {}\nexpires         {}\nelevated        {}\nuses left       {}\n",
            seen.token_id,
            seen.kind.map_or("-", TokenKind::as_str),
            seen.username,
            seen.subject,
            seen.roles.join(","),
            seen.namespace,
            seen.permissions.join(","),
            time_text(seen.issued_at),
            time_text(seen.expires_at),
            seen.elevated,
            seen.uses_remaining.map(|n| n.to_string()).unwrap_or_else(|| "unlimited".into()),
        )
    });
    Ok(())
}

/// `tessera token check`: offline grammar and checksum check.
fn token_check(token: Option<String>, json_out: bool) -> anyhow::Result<()> {
    let token = match token {
        Some(t) if t != "-" => t,
        _ => read_secret("Token to check")?,
    };
    let verdict = check_format(token.trim());
    if json_out {
        println!(
            "{}",
            json!({"well_formed": verdict.is_ok(), "kind": verdict.ok().map(|k| k.as_str()),
                   "problem": verdict.err().map(|e| e.to_string())})
        );
    }
    match verdict {
        Ok(kind) => {
            if !json_out {
                println!("well-formed Tessera {kind} token (checksum ok; whether it is active only the server can say)");
            }
            Ok(())
        }
        Err(problem) => bail!("not a well-formed Tessera token: {problem}"),
    }
}
