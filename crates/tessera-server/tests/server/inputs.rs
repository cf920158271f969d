//! Issue 12, inputs and defaults: bounded strings (H3), control and format characters (L4/L5),
//! least privilege by default (M1), the namespace rule (L3) and a lockout that does not enumerate
//! accounts (M5). Real server, real sockets, real PostgreSQL.

use std::time::{Duration, Instant};

use crate::common::*;
use tessera_proto::v1::{self as pb, admin_service_client::AdminServiceClient};
use tessera_rules::role::Role;
use tonic::Code;

use pb::revoke_request::Target;

fn login_req(username: &str, password: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        username: username.into(),
        password: password.into(),
        totp_code: String::new(),
    }
}

/// Random lowercase text that PostgreSQL's TOAST compression cannot shrink.
fn incompressible(len: usize, seed: u64) -> String {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

async fn database_size(server: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&server.pool)
        .await
        .unwrap()
}

/// H3: a thousand logins with 64 KiB usernames are refused before any work and leave the database
/// (audit trail included) as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_usernames_are_refused_before_they_reach_the_database() {
    let server = TestServer::start().await;
    sqlx::query("CHECKPOINT").execute(&server.pool).await.ok();
    let before = database_size(&server).await;
    let audit_before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&server.pool)
        .await
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..4u64 {
        let mut client = server.client();
        tasks.push(tokio::spawn(async move {
            for i in 0..250u64 {
                let name = incompressible(64 * 1024, worker * 1000 + i + 1);
                let status = client
                    .login(login_req(&name, "whatever password"))
                    .await
                    .expect_err("refused");
                assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
                assert_eq!(field_of(&status), "username");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let audit_after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&server.pool)
        .await
        .unwrap();
    let growth = database_size(&server).await - before;
    eprintln!(
        "H3: 1000 logins with 64 KiB usernames in {:?}: database grew {growth} bytes, {} audit rows",
        started.elapsed(),
        audit_after - audit_before
    );
    assert_eq!(
        audit_after, audit_before,
        "nothing audited for refused input"
    );
    assert!(growth <= 1024 * 1024, "database grew {growth} bytes");
}

/// H3: every string field has a bound, checked before the caller is even authenticated (so a
/// limited-use caller loses no use) and answered INVALID_ARGUMENT with the field.
#[tokio::test]
async fn every_field_is_bounded_before_any_work() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::Admin).await;
    let caller = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                max_uses: 3,
                permissions: vec!["introspect".into(), "issue".into(), "admin".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .token;
    let huge = |n: usize| "x".repeat(n);
    let mut client = server.client();
    let mut admin = AdminServiceClient::new(server.channel.clone());
    let r = client
        .introspect(authed(
            pb::IntrospectRequest {
                token: huge(5000),
                peek: true,
            },
            &caller,
        ))
        .await;
    check(r, "token");
    let r = client
        .issue_token(authed(
            pb::IssueTokenRequest {
                description: huge(513),
                ..Default::default()
            },
            &caller,
        ))
        .await;
    check(r, "description");
    let r = client
        .issue_token(authed(
            pb::IssueTokenRequest {
                permissions: vec![huge(65)],
                ..Default::default()
            },
            &caller,
        ))
        .await;
    check(r, "permissions");
    let r = client
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: "t".into(),
                identifiers: vec!["a".into(); 1001],
                action: String::new(),
            },
            &caller,
        ))
        .await;
    check(r, "identifiers");
    let r = client
        .revoke(authed(
            pb::RevokeRequest {
                target: Some(Target::TokenId(huge(100))),
                reason: String::new(),
                ..Default::default()
            },
            &caller,
        ))
        .await;
    check(r, "token_id");
    let r = admin
        .create_user(authed(
            pb::CreateUserRequest {
                username: "ok".into(),
                display_name: huge(129),
                role: String::new(),
                password: "long enough pw".into(),
            },
            &caller,
        ))
        .await;
    check(r, "display_name");
    let r = admin
        .set_password(authed(
            pb::SetPasswordRequest {
                username: "ok".into(),
                password: huge(1025),
            },
            &caller,
        ))
        .await;
    check(r, "password");
    let r = admin
        .list_audit_events(authed(
            pb::ListAuditEventsRequest {
                action: huge(65),
                ..Default::default()
            },
            &caller,
        ))
        .await;
    check(r, "action");
    let r = client.login(login_req("u", &huge(1025))).await;
    check(r, "password");
    // None of the refused calls authenticated, so none spent one of the caller's three uses.
    let seen = server.peek(&caller, &caller).await;
    assert_eq!(seen.uses_remaining, Some(2), "only this peek spent a use");
}

#[track_caller]
fn check<T: std::fmt::Debug>(result: Result<T, tonic::Status>, field: &str) {
    let status = assert_reason(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(field_of(&status), field, "{status:?}");
}

/// L4/L5: a NUL byte used to reach PostgreSQL and come back INTERNAL; control characters are now
/// refused up front, and format (bidi, zero-width) characters in namespaces and identifiers.
#[tokio::test]
async fn control_and_format_characters_are_refused_with_the_field() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::Admin).await;
    let mut client = server.client();
    let status = assert_reason(
        client
            .login(login_req("ali\0ce", "whatever password"))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&status), "username");
    let issue = |req: pb::IssueTokenRequest| server.issue(&session, req);
    for (req, field) in [
        (
            pb::IssueTokenRequest {
                description: "a\0b".into(),
                ..Default::default()
            },
            "description",
        ),
        (
            pb::IssueTokenRequest {
                description: "line\r\nforged".into(),
                ..Default::default()
            },
            "description",
        ),
        (
            pb::IssueTokenRequest {
                namespace: "deploy.\u{202E}x".into(),
                ..Default::default()
            },
            "namespace",
        ),
        (
            pb::IssueTokenRequest {
                namespace: "deploy\u{200B}.".into(),
                ..Default::default()
            },
            "namespace",
        ),
    ] {
        let status = assert_reason(issue(req).await, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(field_of(&status), field);
    }
    let status = assert_reason(
        client
            .revoke(authed(
                pb::RevokeRequest {
                    target: Some(Target::Token("tsr_api_x".into())),
                    reason: "why\0".into(),
                    ..Default::default()
                },
                &session,
            ))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&status), "reason");
    let status = assert_reason(
        client
            .check_namespace(authed(
                pb::CheckNamespaceRequest {
                    token: session.clone(),
                    identifiers: vec!["deploy.daily".into(), "deploy.\u{2066}daily".into()],
                    action: String::new(),
                },
                &session,
            ))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&status), "identifiers");
    // Not normalised, but not refused either: visible non-ASCII is fine.
    let verdict = client
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: session.clone(),
                identifiers: vec!["café.menu".into()],
                action: String::new(),
            },
            &session,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(verdict.allowed);
}

/// M1: a derived token does not inherit `admin` or `issue`; the README's deploy.-only token can no
/// longer create users. Both can still be asked for by name.
#[tokio::test]
async fn derived_tokens_do_not_inherit_admin_or_issue() {
    let server = TestServer::start().await;
    let (_, admin_session) = server.session(Role::Admin).await;
    let deploy = server
        .issue(
            &admin_session,
            pb::IssueTokenRequest {
                namespace: "deploy.".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(deploy.permissions, vec!["*", "-admin", "-issue"]);
    let mut admin = AdminServiceClient::new(server.channel.clone());
    let create = |token: String| pb::CreateUserRequest {
        username: format!("new{}", &token[token.len() - 6..].to_lowercase()),
        display_name: String::new(),
        role: String::new(),
        password: "long enough password".into(),
    };
    assert_reason(
        admin
            .create_user(authed(create(deploy.token.clone()), &deploy.token))
            .await,
        Code::PermissionDenied,
        "ELEVATION_REQUIRED",
    );
    assert_reason(
        server
            .issue(&deploy.token, pb::IssueTokenRequest::default())
            .await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
    // Still a working token for everything else.
    let seen = server.peek(&deploy.token, &deploy.token).await;
    assert!(seen.active && seen.permissions == vec!["*", "-admin", "-issue"]);
    // Asked for by name, admin is granted (the caller holds it).
    let explicit = server
        .issue(
            &admin_session,
            pb::IssueTokenRequest {
                permissions: vec!["admin".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    admin
        .create_user(authed(create(explicit.token.clone()), &explicit.token))
        .await
        .expect("explicit admin works");
    // A token without issue cannot mint one with it.
    assert_reason(
        server
            .issue(
                &deploy.token,
                pb::IssueTokenRequest {
                    permissions: vec!["issue".into()],
                    ..Default::default()
                },
            )
            .await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
}

/// L3: `deploy` is an exact name (it used to allow `deployment.prod`), a prefix ends in a separator,
/// and `*` inside a prefix is refused.
#[tokio::test]
async fn namespaces_are_star_prefix_or_exact() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let exact = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                namespace: "deploy".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let verdict = server
        .client()
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: exact.token.clone(),
                identifiers: vec![
                    "deploy".into(),
                    "deployment.prod".into(),
                    "deploy.daily".into(),
                ],
                action: String::new(),
            },
            &session,
        ))
        .await
        .unwrap()
        .into_inner();
    let allowed: Vec<bool> = verdict.results.iter().map(|r| r.allowed).collect();
    assert_eq!(allowed, vec![true, false, false]);
    for bad in ["deploy.*", "*.prod", "de*ploy."] {
        let status = assert_reason(
            server
                .issue(
                    &session,
                    pb::IssueTokenRequest {
                        namespace: bad.into(),
                        ..Default::default()
                    },
                )
                .await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(field_of(&status), "namespace");
    }
    for prefix in ["jobs/", "tenant:", "deploy."] {
        server
            .issue(
                &session,
                pb::IssueTokenRequest {
                    namespace: prefix.into(),
                    ..Default::default()
                },
            )
            .await
            .expect(prefix);
    }
}

/// One refused login: how long it took and how many argon2 jobs the server ran for it.
async fn timed_login(
    server: &TestServer,
    user: &str,
    password: &str,
) -> (Duration, u64, tonic::Status) {
    let hashes = server.authority.hash_pool().finished();
    let started = Instant::now();
    let status = server
        .client()
        .login(login_req(user, password))
        .await
        .expect_err("refused");
    let took = started.elapsed();
    (
        took,
        server.authority.hash_pool().finished() - hashes,
        status,
    )
}

/// M5: a locked account answers like a wrong password, in code, reason and work (the same one
/// argon2 verification, which is what sets the time: it used to answer without hashing, 6x
/// faster), and stays locked.
#[tokio::test]
async fn a_locked_account_answers_like_a_wrong_password() {
    let server = TestServer::start().await;
    server
        .add_user("frank", "correct horse battery", Role::User)
        .await;
    server
        .add_user("grace", "correct horse battery", Role::User)
        .await;
    for _ in 0..5 {
        timed_login(&server, "frank", "wrong password").await;
    }
    let mut locked = Vec::new();
    let mut wrong = Vec::new();
    for _ in 0..5 {
        let (took, hashes, status) = timed_login(&server, "frank", "correct horse battery").await;
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unauthenticated, "invalid username, password or code")
        );
        assert_reason(
            Err::<(), _>(status),
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
        assert_eq!(
            hashes, 1,
            "a locked account's refusal costs one argon2 verification"
        );
        locked.push(took);
        // grace stays below the limit: one wrong password, then a right one resets her count.
        let (took, hashes, status) = timed_login(&server, "grace", "wrong password").await;
        assert_reason(
            Err::<(), _>(status),
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
        assert_eq!(hashes, 1, "a wrong password costs one argon2 verification");
        wrong.push(took);
        server.login("grace", "correct horse battery").await;
    }
    locked.sort();
    wrong.sort();
    // Wall-clock medians for the record only: on a loaded machine they are too noisy to assert.
    eprintln!(
        "M5: locked median {:.4}s, wrong-password median {:.4}s",
        locked[2].as_secs_f64(),
        wrong[2].as_secs_f64()
    );
    // The lock itself holds: the right password was refused above; it works once the lock ends.
    server.clock.advance(time::Duration::minutes(16));
    server.login("frank", "correct horse battery").await;
}
