//! `tessera audit tail` and `tessera audit export`.

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tessera_client::{AuditEvent, AuditQuery};
use tessera_rules::ttl::parse_ttl;
use time::OffsetDateTime;

use crate::{
    cli::RemoteArgs,
    remote::{explain, table, time_text, Remote},
};

// The group's command line: its clap definition lives beside its body.

/// `tessera audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the most recent audit events, newest first.
    Tail(AuditTailArgs),
    /// Write audit events as JSON lines (newest first, every page), e.g. before the server's
    /// --audit-retention prunes them: `tessera audit export --until 80d --output old.jsonl`.
    Export(AuditExportArgs),
}

/// Flags of `audit export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Only events newer than this, e.g. 7d.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events older than this, e.g. 80d.
    #[arg(long)]
    pub until: Option<String>,
    /// Write to this new file (created 0600, never overwritten) instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<std::path::PathBuf>,
}

/// Filters of `audit tail`.
#[derive(Debug, Args)]
pub struct AuditTailArgs {
    /// Only events by this account id.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (login, unlock, issue, revoke, lockout, user.create, …; a name the server
    /// never writes is refused with the list).
    #[arg(long)]
    pub action: Option<String>,
    /// Only events newer than this, e.g. 1h.
    #[arg(long)]
    pub since: Option<String>,
    /// How many events.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
}

/// Every action the server writes to the audit trail; `audit tail --action` takes one of these.
pub const AUDIT_ACTIONS: &[&str] = &[
    "bootstrap",
    "issue",
    "keys_rotate",
    "lockout",
    "login",
    "master.reset",
    "master.set",
    "revoke",
    "static_tokens.load",
    "totp.enroll",
    "totp.remove",
    "unlock",
    "user.create",
    "user.disable",
    "user.enable",
    "user.password",
    "user.role",
];

/// Refuses an action the server never writes: a typo would otherwise list nothing, silently.
pub fn check_audit_action(action: &str) -> anyhow::Result<()> {
    if AUDIT_ACTIONS.contains(&action) {
        return Ok(());
    }
    bail!(
        "--action {action:?} is not an audit action; known actions: {}",
        AUDIT_ACTIONS.join(", ")
    )
}

/// `tessera audit …`.
pub async fn run(command: AuditCommand, remote: &RemoteArgs) -> anyhow::Result<()> {
    let connected = remote.connect().await?;
    match command {
        AuditCommand::Tail(args) => audit_tail(&connected, args).await,
        AuditCommand::Export(args) => audit_export(&connected, args).await,
    }
}

/// `now - ago`, to the second, `ago` as `--flag` gives it (`7d`).
fn ago(flag: &str, ago: Option<&str>) -> anyhow::Result<Option<OffsetDateTime>> {
    let Some(ago) = ago else { return Ok(None) };
    let ago = parse_ttl(ago).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    let at = OffsetDateTime::now_utc() - ago;
    Ok(Some(at.replace_nanosecond(0).unwrap_or(at)))
}

fn event_json(e: &AuditEvent) -> Value {
    json!({"id": e.id, "at": time_text(e.at), "action": e.action, "outcome": e.outcome,
           "actor": e.actor, "username": e.username, "token_id": e.token_id,
           "detail": serde_json::from_str::<Value>(&e.detail_json).unwrap_or(Value::Null)})
}

/// `tessera audit export`: every matching event, a page at a time, one JSON object per line.
async fn audit_export(remote: &Remote, args: AuditExportArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let since = ago("--since", args.since.as_deref())?;
    let until = ago("--until", args.until.as_deref())?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| anyhow::anyhow!("--output {}: {e}", path.display()))?;
            Box::new(std::io::BufWriter::new(file))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let (mut page_token, mut count) = (String::new(), 0u64);
    loop {
        let page = remote
            .client
            .list_audit_events(AuditQuery {
                since,
                until,
                page_size: 500,
                page_token: page_token.clone(),
                ..AuditQuery::default()
            })
            .await
            .map_err(explain)?;
        for event in &page.items {
            writeln!(out, "{}", event_json(event))?;
            count += 1;
        }
        if page.next_page_token.is_empty() || page.items.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    out.flush()?;
    eprintln!("exported {count} audit events");
    Ok(())
}

/// `tessera audit tail`.
async fn audit_tail(remote: &Remote, args: AuditTailArgs) -> anyhow::Result<()> {
    if let Some(action) = &args.action {
        check_audit_action(action)?;
    }
    let since = ago("--since", args.since.as_deref())?;
    let events = remote
        .client
        .list_audit_events(AuditQuery {
            actor: args.actor.unwrap_or_default(),
            action: args.action.unwrap_or_default(),
            since,
            page_size: args.limit.clamp(1, 500),
            ..AuditQuery::default()
        })
        .await
        .map_err(explain)?
        .items;
    let value = Value::Array(events.iter().map(event_json).collect());
    remote.print(value, || {
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                vec![
                    time_text(e.at),
                    e.action.clone(),
                    e.outcome.clone(),
                    if e.username.is_empty() {
                        "-".into()
                    } else {
                        e.username.clone()
                    },
                    e.detail_json.clone(),
                ]
            })
            .collect();
        table(&["AT", "ACTION", "OUTCOME", "USERNAME", "DETAIL"], &rows)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `--action` the README and the operations guide show is one the server writes (the
    /// README once named `account_locked`, a login failure's reason, as an action).
    #[test]
    fn the_docs_name_only_actions_the_server_writes() {
        let docs = [
            include_str!("../../../../README.md"),
            include_str!("../../../../docs/operations.md"),
        ];
        let mut named = 0;
        for doc in docs {
            for (at, _) in doc.match_indices("--action ") {
                let action: String = doc[at + "--action ".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
                    .collect();
                assert!(check_audit_action(&action).is_ok(), "--action {action}");
                named += 1;
            }
        }
        assert!(named >= 2, "the docs show `tessera audit tail --action …`");
        // "the audit trail records `X`": X is what an operator then looks for with --action.
        for doc in docs {
            for (at, _) in doc.match_indices("audit trail records") {
                let rest = &doc[at..];
                let Some(start) = rest.find('`') else {
                    continue;
                };
                let name: String = rest[start + 1..]
                    .chars()
                    .take_while(|c| *c != '`')
                    .collect();
                assert!(
                    check_audit_action(&name).is_ok(),
                    "the audit trail records `{name}`"
                );
            }
        }
    }
}
