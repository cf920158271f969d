//! Who may grant what (issue 30), over real gRPC against a real PostgreSQL: no one gives a role
//! above their own or changes an account that outranks them, admin rights need a token for every
//! namespace, and a change of second factor ends the account's sessions.

use crate::common::*;
use tessera_core::{clock::Clock, totp::TotpSecret};
use tessera_proto::v1::{self as pb, admin_service_client::AdminServiceClient};
use tessera_rules::role::Role;
use tonic::{Code, Status};

const PASSWORD: &str = "correct horse battery";

fn admin(server: &TestServer) -> AdminServiceClient<tonic::transport::Channel> {
    AdminServiceClient::new(server.channel.clone())
}

/// A fresh account with `role`, its name and a session.
async fn account(server: &TestServer, role: Role) -> (String, String) {
    let name = format!("{role}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    server.add_user(&name, PASSWORD, role).await;
    let session = server.login(&name, PASSWORD).await.token;
    (name, session)
}

async fn set_role(
    server: &TestServer,
    caller: &str,
    username: &str,
    role: &str,
) -> Result<(), Status> {
    admin(server)
        .set_role(authed(
            pb::SetRoleRequest {
                username: username.into(),
                role: role.into(),
            },
            caller,
        ))
        .await
        .map(drop)
}

async fn create(server: &TestServer, caller: &str, role: &str) -> Result<(), Status> {
    let username = format!("new{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    admin(server)
        .create_user(authed(
            pb::CreateUserRequest {
                username,
                password: PASSWORD.into(),
                role: role.into(),
                ..Default::default()
            },
            caller,
        ))
        .await
        .map(drop)
}

async fn remove_totp(server: &TestServer, caller: &str, username: &str) -> Result<(), Status> {
    admin(server)
        .remove_totp(authed(
            pb::RemoveTotpRequest {
                username: username.into(),
            },
            caller,
        ))
        .await
        .map(drop)
}

#[track_caller]
fn exceeded(result: Result<(), Status>) {
    assert_reason(result, Code::PermissionDenied, "PRIVILEGE_EXCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_one_gives_a_role_above_their_own() {
    let server = TestServer::start().await;
    let (admin_name, admin_session) = account(&server, Role::Admin).await;
    let (user_name, _) = account(&server, Role::User).await;
    for above in ["owner", "superuser", "root"] {
        exceeded(set_role(&server, &admin_session, &admin_name, above).await);
        exceeded(set_role(&server, &admin_session, &user_name, above).await);
        exceeded(create(&server, &admin_session, above).await);
    }
    // Up to their own rank is fine.
    create(&server, &admin_session, "admin").await.unwrap();
    set_role(&server, &admin_session, &user_name, "admin")
        .await
        .unwrap();

    // An owner reaches owner, not above.
    let (_, owner_session) = account(&server, Role::Owner).await;
    let (other, _) = account(&server, Role::User).await;
    set_role(&server, &owner_session, &other, "owner")
        .await
        .unwrap();
    exceeded(set_role(&server, &owner_session, &other, "superuser").await);
    let (_, root_session) = account(&server, Role::Root).await;
    set_role(&server, &root_session, &other, "root")
        .await
        .unwrap();

    // Unlock gives a `user` admin rights, not a higher rank.
    let (_, user_session) = account(&server, Role::User).await;
    let elevated = server
        .client()
        .unlock(authed(
            pb::UnlockRequest {
                password: ROOT_PASSWORD.into(),
                ..Default::default()
            },
            &user_session,
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    create(&server, &elevated, "admin").await.unwrap();
    exceeded(create(&server, &elevated, "owner").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_one_changes_an_account_that_outranks_them() {
    let server = TestServer::start().await;
    let (_, admin_session) = account(&server, Role::Admin).await;
    let (root_name, _) = account(&server, Role::Root).await;
    exceeded(set_role(&server, &admin_session, &root_name, "user").await);
    exceeded(
        admin(&server)
            .set_password(authed(
                pb::SetPasswordRequest {
                    username: root_name.clone(),
                    password: "taken over 123".into(),
                },
                &admin_session,
            ))
            .await
            .map(drop),
    );
    exceeded(
        admin(&server)
            .set_user_disabled(authed(
                pb::SetUserDisabledRequest {
                    username: root_name.clone(),
                    disabled: true,
                },
                &admin_session,
            ))
            .await
            .map(drop),
    );
    // The root account still logs in with its own password.
    server.login(&root_name, PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_someone_elses_totp_needs_their_rank() {
    let server = TestServer::start().await;
    let (_, admin_session) = account(&server, Role::Admin).await;
    let owner = format!("owner{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let owner_id = server.add_user(&owner, PASSWORD, Role::Owner).await;
    server.enroll_totp(owner_id).await;
    exceeded(remove_totp(&server, &admin_session, &owner).await);
    let (peer, _) = account(&server, Role::Admin).await;
    let peer_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(&peer)
        .fetch_one(&server.pool)
        .await
        .unwrap();
    server.enroll_totp(peer_id).await;
    remove_totp(&server, &admin_session, &peer).await.unwrap();
    let (_, superuser_session) = account(&server, Role::Superuser).await;
    remove_totp(&server, &superuser_session, &owner)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_asked_for_on_a_namespace_limited_token_gives_no_admin_rights() {
    let server = TestServer::start().await;
    let (_, admin_session) = account(&server, Role::Admin).await;
    let issue = |namespace: &str| pb::IssueTokenRequest {
        ttl: "15m".into(),
        namespace: namespace.into(),
        permissions: vec!["admin".into(), "introspect".into()],
        ..Default::default()
    };
    let limited = server
        .issue(&admin_session, issue("deploy."))
        .await
        .unwrap()
        .token;
    assert_reason(
        create(&server, &limited, "user").await,
        Code::PermissionDenied,
        "ELEVATION_REQUIRED",
    );
    assert_reason(
        admin(&server)
            .list_users(authed(pb::ListUsersRequest::default(), &limited))
            .await,
        Code::PermissionDenied,
        "ELEVATION_REQUIRED",
    );
    // Nor may it revoke another account's sessions.
    let victim_id = server.add_user("victim", PASSWORD, Role::User).await;
    let victim = server.login("victim", PASSWORD).await.token;
    assert_reason(
        server
            .revoke(
                &limited,
                pb::revoke_request::Target::Subject(victim_id.to_string()),
            )
            .await,
        Code::PermissionDenied,
        "ELEVATION_REQUIRED",
    );
    assert!(server.peek(&admin_session, &victim).await.active);
    // The same permission for every namespace still holds admin rights.
    let everywhere = server
        .issue(&admin_session, issue("*"))
        .await
        .unwrap()
        .token;
    create(&server, &everywhere, "user").await.unwrap();
}

/// The account's tokens: (token id, revoked).
async fn revoked_tokens(server: &TestServer, username: &str) -> Vec<(uuid::Uuid, bool)> {
    sqlx::query_as(
        "SELECT t.id, t.revoked_at IS NOT NULL FROM tokens t JOIN users u ON u.id = t.subject
         WHERE u.username = $1",
    )
    .bind(username)
    .fetch_all(&server.pool)
    .await
    .unwrap()
}

/// Whether the revocation feed carries `token_id`.
async fn in_feed(server: &TestServer, token_id: uuid::Uuid) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM revocations WHERE token_id = $1)")
        .bind(token_id)
        .fetch_one(&server.pool)
        .await
        .unwrap()
}

async fn assert_all_ended(server: &TestServer, watcher: &str, username: &str, tokens: &[&str]) {
    for token in tokens {
        assert!(
            !server.peek(watcher, token).await.active,
            "a token survived"
        );
    }
    let rows = revoked_tokens(server, username).await;
    assert!(!rows.is_empty());
    for (id, revoked) in rows {
        assert!(revoked, "token {id} of {username} was not revoked");
        assert!(in_feed(server, id).await, "token {id} is not in the feed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrolment_and_removal_end_the_accounts_sessions() {
    let server = TestServer::start().await;
    let (_, admin_session) = account(&server, Role::Admin).await;
    let (name, session) = account(&server, Role::User).await;
    let child = server
        .issue(&session, pb::IssueTokenRequest::default())
        .await
        .unwrap()
        .token;
    let begun = admin(&server)
        .begin_totp_enrollment(authed(
            pb::BeginTotpEnrollmentRequest {
                username: name.clone(),
            },
            &admin_session,
        ))
        .await
        .unwrap()
        .into_inner();
    let secret = TotpSecret::from_base32(&begun.secret).unwrap();
    let code_at = |step| secret.code_at(step);
    let step = TotpSecret::step_of(server.clock.now());
    admin(&server)
        .confirm_totp_enrollment(authed(
            pb::ConfirmTotpEnrollmentRequest {
                username: name.clone(),
                secret: begun.secret.clone(),
                code: code_at(step),
            },
            &admin_session,
        ))
        .await
        .unwrap();
    assert_all_ended(&server, &admin_session, &name, &[&session, &child]).await;

    // A session opened with the second factor ends when it is removed.
    server.clock.advance(time::Duration::seconds(30));
    let second = server
        .client()
        .login(pb::LoginRequest {
            username: name.clone(),
            password: PASSWORD.into(),
            totp_code: code_at(TotpSecret::step_of(server.clock.now())),
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    assert!(server.peek(&admin_session, &second).await.active);
    remove_totp(&server, &admin_session, &name).await.unwrap();
    assert_all_ended(&server, &admin_session, &name, &[&second]).await;
}

/// Who may introspect whose token: a `user` account's tokens see only that account's tokens,
/// another account's answer inactive and keep their uses; an admin's session and the master
/// token see every token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_inspects_only_its_own_accounts_tokens() {
    let server = TestServer::start().await;
    let (_, alice) = account(&server, Role::User).await;
    let (_, mallory) = account(&server, Role::User).await;
    let (_, admin_session) = account(&server, Role::Admin).await;
    let single_use = |ttl: &str| pb::IssueTokenRequest {
        ttl: ttl.into(),
        max_uses: 1,
        ..Default::default()
    };
    let alices = server.issue(&alice, single_use("1h")).await.unwrap().token;

    // Mallory learns nothing about Alice's token and burns none of its uses.
    let seen = server.introspect(&mallory, &alices).await.unwrap();
    assert!(!seen.active, "another user's token must look inactive");
    assert!(seen.username.is_empty() && seen.token_id.is_empty());
    assert!(
        !server.peek(&mallory, &alice).await.active,
        "nor her session"
    );
    let checked = server
        .client()
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: alices.clone(),
                identifiers: vec!["anything".into()],
                action: String::new(),
            },
            &mallory,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!checked.active, "CheckNamespace hides it too");

    // The admin sees it without consuming it; Alice sees and consumes her own token.
    let peeked = server.peek(&admin_session, &alices).await;
    assert!(peeked.active && peeked.uses_remaining == Some(1));
    assert!(server.peek(&alice, &alice).await.active);
    let own = server.introspect(&alice, &alices).await.unwrap();
    assert!(own.active, "its own account's token is visible");
    assert!(
        !server.introspect(&alice, &alices).await.unwrap().active,
        "and its one use is now spent"
    );
}
