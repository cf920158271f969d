//! Every typed call against a real `tessera dev`, including fail-over from a dead replica.

use std::time::Duration;

use tessera_client::{
    judge_service_token, AuditQuery, Client, IssueToken, Login, NewUser, Reason, RevokeTarget,
    Secret, TokenKind,
};
use tessera_harness::DevServer;

use super::stub;

pub fn dev() -> DevServer {
    DevServer::start(&[]).expect("tessera dev starts")
}

#[tokio::test]
async fn typed_calls_against_a_real_tessera() -> anyhow::Result<()> {
    let dev = dev();
    let address = format!("http://{}", dev.ready.grpc_addr);
    let anonymous = Client::connect([address.clone()]).await?;

    // Login: a wrong password is INVALID_CREDENTIALS, the right one a session.
    let wrong = anonymous
        .login(Login::new(
            &dev.ready.admin_username,
            Secret::new("not-it".into()),
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.reason(), Reason::InvalidCredentials);
    let session = anonymous
        .login(Login::new(
            &dev.ready.admin_username,
            Secret::new(dev.ready.admin_password.clone()),
        ))
        .await?;
    assert_eq!(session.user.username, dev.ready.admin_username);
    assert!(session
        .expires_at
        .is_some_and(|at| at > time::OffsetDateTime::now_utc()));
    let admin = anonymous.with_token(session.token.expose())?;

    // Issue: a single-use token in deploy. for 15 minutes.
    let issued = admin
        .issue_token(
            IssueToken::new(Duration::from_secs(900))
                .namespace("deploy.")
                .max_uses(1)
                .description("tessera-client test"),
        )
        .await?;
    assert_eq!(issued.namespace, "deploy.");
    assert_eq!(issued.max_uses, Some(1));
    let lifetime = issued.expires_at.unwrap() - time::OffsetDateTime::now_utc();
    assert!(lifetime > time::Duration::minutes(14) && lifetime <= time::Duration::minutes(15));

    // Broader than the caller: PRIVILEGE_EXCEEDED; nonsense: INVALID_ARGUMENT with the field.
    let deploy = admin
        .issue_token(
            IssueToken::new(Duration::from_secs(900))
                .namespace("deploy.")
                .permission("issue"),
        )
        .await?;
    let child = admin.with_token(deploy.token.expose())?;
    let broader = child
        .issue_token(IssueToken::new(Duration::from_secs(60)).namespace("*"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            broader.reason(),
            Reason::PrivilegeExceeded | Reason::AuthDenied
        ),
        "{broader:?}"
    );

    // The service token: judged fit, peeks without spending, introspect spends the one use.
    let service = anonymous.with_token(&dev.ready.service_token)?;
    let me = service.peek(&dev.ready.service_token).await?;
    assert_eq!(judge_service_token(&me), Ok(()));
    let peeked = service.peek(issued.token.expose()).await?;
    assert!(peeked.active);
    assert_eq!(peeked.namespace, "deploy.");
    assert_eq!(peeked.kind, Some(TokenKind::Api));
    let decision = service
        .check_namespace(
            issued.token.expose(),
            ["deploy.daily", "backup.nightly"],
            "",
        )
        .await?;
    assert_eq!(
        decision
            .results
            .iter()
            .map(|d| d.allowed)
            .collect::<Vec<_>>(),
        [true, false]
    );
    assert!(!decision.allowed);
    assert!(service.introspect(issued.token.expose()).await?.active);
    assert!(
        !service.introspect(issued.token.expose()).await?.active,
        "single use"
    );

    // The service token may not act as admin.
    let denied = service.list_users(10, "").await.unwrap_err();
    assert!(
        matches!(
            denied.reason(),
            Reason::AuthDenied | Reason::ElevationRequired
        ),
        "{denied:?}"
    );

    // Admin: a user, its listing, a missing one.
    let bob = admin
        .create_user(NewUser::new(
            "bob",
            "user",
            Secret::new("a long passphrase 1".into()),
        ))
        .await?;
    assert_eq!(bob.role, "user");
    let again = admin
        .create_user(NewUser::new(
            "bob",
            "user",
            Secret::new("a long passphrase 1".into()),
        ))
        .await
        .unwrap_err();
    assert_eq!(again.reason(), Reason::UserExists);
    let users = admin.list_users(100, "").await?;
    assert!(users.items.iter().any(|u| u.user.username == "bob"));
    let missing = admin.set_role("nobody-here", "admin").await.unwrap_err();
    assert_eq!(missing.reason(), Reason::UserNotFound);
    let disabled = admin.set_user_disabled("bob", true).await?;
    assert!(disabled.disabled);

    // Tokens and the audit trail.
    let info = admin.get_token(&issued.token_id).await?;
    assert_eq!(info.uses_remaining, Some(0));
    assert_eq!(
        admin
            .get_token("00000000-0000-4000-8000-000000000000")
            .await
            .unwrap_err()
            .reason(),
        Reason::TokenNotFound
    );
    let revoked = admin
        .revoke(RevokeTarget::TokenId(issued.token_id.clone()), "test")
        .await?;
    assert_eq!(revoked, 1);
    let tokens = admin.list_tokens(&dev.ready.admin_username, true).await?;
    assert!(tokens
        .iter()
        .any(|t| t.token_id == issued.token_id && t.revoked_at.is_some()));
    let audit = admin
        .list_audit_events(AuditQuery {
            action: "revoke".into(),
            ..Default::default()
        })
        .await?;
    assert!(!audit.items.is_empty());
    assert!(!admin.jwks().await?.json.is_empty());

    // Fail-over: the first replica is dead; every call, use-consuming ones included, is served
    // by the second.
    let dead = format!("http://127.0.0.1:{}", stub::closed_port());
    let replicas = Client::builder()
        .addresses([dead, address.clone()])
        .token(Secret::new(dev.ready.service_token.clone()))
        .build()?;
    let fresh = admin
        .issue_token(IssueToken::new(Duration::from_secs(60)).max_uses(1))
        .await?;
    assert!(replicas.introspect(fresh.token.expose()).await?.active);
    assert_eq!(replicas.current_address(), address);
    Ok(())
}
