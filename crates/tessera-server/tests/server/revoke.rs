//! Revoke and WatchRevocations over real gRPC against a real PostgreSQL.

use std::time::Duration;

use crate::common::*;
use futures::StreamExt;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tonic::Code;

use pb::revoke_request::Target;

#[tokio::test]
async fn revoking_a_session_revokes_everything_derived_and_watchers_see_each() {
    let server = TestServer::start().await;
    // The feed is for edges: a service token with introspect, issued by an admin account.
    let (_, watcher_session) = server.session(Role::Admin).await;
    let watcher = server
        .issue(
            &watcher_session,
            pb::IssueTokenRequest {
                permissions: vec!["introspect".into()],
                token_type: pb::TokenType::Service as i32,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .token;
    let mut stream = server
        .client()
        .watch_revocations(authed(
            pb::WatchRevocationsRequest {
                after_sequence: 0,
                ..Default::default()
            },
            &watcher,
        ))
        .await
        .unwrap()
        .into_inner();

    let session = server.login_fresh().await;
    let child = server
        .issue(
            &session.token,
            pb::IssueTokenRequest {
                permissions: vec!["issue".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let grandchild = server
        .issue(&child.token, pb::IssueTokenRequest::default())
        .await
        .unwrap();
    // The cache holds these now; revocation must still win at once.
    for token in [&session.token, &child.token, &grandchild.token] {
        assert!(server.introspect(&watcher, token).await.unwrap().active);
    }

    let count = server
        .revoke(
            &session.token,
            Target::SessionId(session.session_id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(count, 3);
    for token in [&session.token, &child.token, &grandchild.token] {
        assert!(
            !server.introspect(&watcher, token).await.unwrap().active,
            "revoked token still active"
        );
    }
    // Revoking again (here by an admin, the owner's session being gone) changes nothing.
    let (_, admin) = server.session(Role::Admin).await;
    assert_eq!(
        server
            .revoke(&admin, Target::SessionId(session.session_id.clone()))
            .await
            .unwrap(),
        0
    );

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("revocation reached the watcher")
            .expect("stream open")
            .expect("event");
        seen.push(event);
    }
    let mut ids: Vec<_> = seen.iter().map(|e| e.token_id.clone()).collect();
    ids.sort();
    let mut expected = vec![
        session.token_id.clone(),
        child.token_id.clone(),
        grandchild.token_id.clone(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        seen.windows(2).all(|w| w[0].sequence < w[1].sequence),
        "in order"
    );
    let hash = tessera_rules::token::TokenHash::of(&grandchild.token).to_hex();
    assert!(seen.iter().any(|e| e.token_hash == hash));

    // Resuming after the first event replays the rest.
    let mut resumed = server
        .client()
        .watch_revocations(authed(
            pb::WatchRevocationsRequest {
                after_sequence: seen[0].sequence,
                ..Default::default()
            },
            &watcher,
        ))
        .await
        .unwrap()
        .into_inner();
    for expected in &seen[1..] {
        let event = tokio::time::timeout(Duration::from_secs(5), resumed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.sequence, expected.sequence);
    }
}

#[tokio::test]
async fn revoking_a_parent_token_cascades_to_children_only() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let parent = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                permissions: vec!["issue".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let child = server
        .issue(&parent.token, pb::IssueTokenRequest::default())
        .await
        .unwrap();
    let sibling = server
        .issue(&session, pb::IssueTokenRequest::default())
        .await
        .unwrap();
    assert_eq!(
        server
            .revoke(&session, Target::TokenId(parent.token_id.clone()))
            .await
            .unwrap(),
        2
    );
    assert!(
        !server
            .introspect(&session, &child.token)
            .await
            .unwrap()
            .active
    );
    assert!(
        server
            .introspect(&session, &sibling.token)
            .await
            .unwrap()
            .active
    );
    assert!(server.introspect(&session, &session).await.unwrap().active);
}

#[tokio::test]
async fn revoking_someone_elses_tokens_needs_admin_rights_or_elevation() {
    let server = TestServer::start().await;
    let (victim_id, victim) = server.session(Role::User).await;
    let (_, other_user) = server.session(Role::User).await;
    let (_, admin) = server.session(Role::Admin).await;

    let status = assert_reason(
        server
            .revoke(&other_user, Target::Subject(victim_id.to_string()))
            .await,
        Code::PermissionDenied,
        "ELEVATION_REQUIRED",
    );
    assert!(status.message().contains("Unlock"));
    assert!(server.introspect(&admin, &victim).await.unwrap().active);

    // An elevated user may.
    let elevated = server
        .client()
        .unlock(authed(
            pb::UnlockRequest {
                password: ROOT_PASSWORD.into(),
                totp_code: String::new(),
                ttl: "5m".into(),
            },
            &other_user,
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    assert_eq!(
        server
            .revoke(&elevated, Target::Subject(victim_id.to_string()))
            .await
            .unwrap(),
        1
    );
    assert!(!server.introspect(&admin, &victim).await.unwrap().active);

    // An admin session may too.
    let (victim2_id, _) = server.session(Role::User).await;
    assert_eq!(
        server
            .revoke(&admin, Target::Subject(victim2_id.to_string()))
            .await
            .unwrap(),
        1
    );

    // Input errors name the field; a missing target is refused.
    let status = assert_reason(
        server.revoke(&admin, Target::TokenId("nope".into())).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&status), "token_id");
    let missing = server
        .client()
        .revoke(authed(
            pb::RevokeRequest {
                target: None,
                reason: String::new(),
                ..Default::default()
            },
            &admin,
        ))
        .await;
    assert_eq!(
        field_of(&assert_reason(
            missing,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        "target"
    );
    // Revoking your own token needs nothing special, and an unauthenticated revoke is refused.
    let (_, me) = server.session(Role::User).await;
    assert_eq!(
        server.revoke(&me, Target::Token(me.clone())).await.unwrap(),
        1
    );
    assert_reason(
        server
            .client()
            .revoke(pb::RevokeRequest {
                target: Some(Target::Token("x".into())),
                reason: String::new(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
        "AUTH_REQUIRED",
    );
}

#[tokio::test]
async fn watching_needs_the_introspect_permission() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let reader = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                permissions: vec!["jobs:read".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .token;
    let denied = server
        .client()
        .watch_revocations(authed(
            pb::WatchRevocationsRequest {
                after_sequence: 0,
                ..Default::default()
            },
            &reader,
        ))
        .await;
    assert_reason(denied, Code::PermissionDenied, "AUTH_DENIED");
}
