//! `tessera audit tail`.

use anyhow::bail;
use serde_json::{json, Value};
use tessera_core::ttl::parse_ttl;
use tessera_proto::v1 as pb;

use super::{explain, table, time_text, AuditTailArgs, Remote};

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

/// `tessera audit tail`.
pub async fn audit_tail(remote: &Remote, args: AuditTailArgs) -> anyhow::Result<()> {
    if let Some(action) = &args.action {
        check_audit_action(action)?;
    }
    let since = match &args.since {
        Some(ago) => {
            let ago = parse_ttl(ago).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let at = time::OffsetDateTime::now_utc() - ago;
            Some(prost_types::Timestamp {
                seconds: at.unix_timestamp(),
                nanos: 0,
            })
        }
        None => None,
    };
    let events = remote
        .admin()
        .list_audit_events(remote.request(pb::ListAuditEventsRequest {
            actor: args.actor.unwrap_or_default(),
            action: args.action.unwrap_or_default(),
            since,
            until: None,
            page_size: args.limit.clamp(1, 500),
            page_token: String::new(),
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .events;
    let value = Value::Array(
        events
            .iter()
            .map(|e| {
                json!({"id": e.id, "at": time_text(e.at.as_ref()), "action": e.action, "outcome": e.outcome,
                       "actor": e.actor, "username": e.username, "token_id": e.token_id,
                       "detail": serde_json::from_str::<Value>(&e.detail_json).unwrap_or(Value::Null)})
            })
            .collect(),
    );
    remote.print(value, || {
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                vec![
                    time_text(e.at.as_ref()),
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
