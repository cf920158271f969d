//! IssueToken, Introspect and CheckNamespace over real gRPC against a real PostgreSQL.

use crate::common::*;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tonic::Code;

fn issue(ttl: &str, max_uses: u32, namespace: &str, permissions: &[&str]) -> pb::IssueTokenRequest {
    pb::IssueTokenRequest {
        ttl: ttl.into(),
        max_uses,
        namespace: namespace.into(),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn issued_token_carries_its_bounds_and_expires() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let token = server
        .issue(&session, issue("15m", 0, "deploy.", &["jobs:write"]))
        .await
        .unwrap();
    assert!(token.token.starts_with("tsr_api_"));
    assert_eq!(token.namespace, "deploy.");
    assert_eq!(token.permissions, vec!["jobs:write"]);
    assert_eq!(token.max_uses, None);

    let seen = server.introspect(&session, &token.token).await.unwrap();
    assert!(seen.active);
    assert_eq!(seen.namespace, "deploy.");
    assert_eq!(seen.permissions, vec!["jobs:write"]);
    assert_eq!(seen.token_type, pb::TokenType::Api as i32);
    let ttl = seen.expires_at.unwrap().seconds - seen.issued_at.unwrap().seconds;
    assert_eq!(ttl, 15 * 60);

    server.clock.advance(time::Duration::minutes(15));
    let gone = server.introspect(&session, &token.token).await.unwrap();
    assert_eq!(
        gone,
        pb::IntrospectResponse::default(),
        "an inactive token answers only active: false"
    );
}

#[tokio::test]
async fn a_child_never_exceeds_its_parent() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let parent = server
        .issue(&session, issue("1h", 0, "deploy.", &["issue", "jobs:read"]))
        .await
        .unwrap()
        .token;
    for (request, field) in [
        (issue("", 0, "backup.", &[]), "namespace"),
        (issue("", 0, "*", &[]), "namespace"),
        (issue("", 0, "deploy", &[]), "namespace"),
        (issue("", 0, "", &["jobs:write"]), "permissions"),
        (issue("", 0, "", &["*"]), "permissions"),
        (issue("2h", 0, "", &[]), "ttl"),
    ] {
        let status = assert_reason(
            server.issue(&parent, request).await,
            Code::PermissionDenied,
            "PRIVILEGE_EXCEEDED",
        );
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
    }
    let child = server
        .issue(&parent, issue("30m", 0, "deploy.daily", &["jobs:read"]))
        .await
        .unwrap();
    assert_eq!(child.namespace, "deploy.daily");
    assert_eq!(child.max_uses, None);

    // Uses: each authenticated call is a use of a limited-use caller, and a child may not ask for
    // more than what is left; asking for nothing inherits what is left.
    let limited = server
        .issue(&session, issue("1h", 5, "", &["issue"]))
        .await
        .unwrap()
        .token;
    let status = assert_reason(
        server.issue(&limited, issue("", 5, "", &[])).await,
        Code::PermissionDenied,
        "PRIVILEGE_EXCEEDED",
    );
    assert!(
        status.message().contains("max_uses"),
        "{}",
        status.message()
    );
    let inherited = server.issue(&limited, issue("", 0, "", &[])).await.unwrap();
    assert_eq!(inherited.max_uses, Some(3));
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    for ttl in ["0s", "-5m", "5", "5x", "soon", "99999999999d", "400d"] {
        let status = assert_reason(
            server.issue(&session, issue(ttl, 0, "", &[])).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(field_of(&status), "ttl", "ttl {ttl}");
    }
    for namespace in ["deploy .", "a\tb", "x\u{7}"] {
        let status = assert_reason(
            server.issue(&session, issue("", 0, namespace, &[])).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(field_of(&status), "namespace");
    }
    let status = assert_reason(
        server
            .issue(&session, issue("", 0, "", &["Bad Permission"]))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&status), "permissions");
    // JWT is a supported format now (the `jwt` suite); an unknown one is still refused by name.
    let unknown_format = pb::IssueTokenRequest {
        format: 99,
        ..Default::default()
    };
    assert_eq!(
        field_of(&assert_reason(
            server.issue(&session, unknown_format).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        "format"
    );
}

#[tokio::test]
async fn callers_are_authenticated_and_need_their_permission() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let mut client = server.client();
    assert_reason(
        client.issue_token(pb::IssueTokenRequest::default()).await,
        Code::Unauthenticated,
        "AUTH_REQUIRED",
    );
    assert_reason(
        server
            .issue("tsr_api_notarealtoken", pb::IssueTokenRequest::default())
            .await,
        Code::Unauthenticated,
        "AUTH_FAILED",
    );
    let mut malformed = tonic::Request::new(pb::IssueTokenRequest::default());
    malformed
        .metadata_mut()
        .insert("authorization", "Basic abc".parse().unwrap());
    assert_reason(
        client.issue_token(malformed).await,
        Code::Unauthenticated,
        "AUTH_FAILED",
    );

    // A token without `introspect` may not introspect; one without `issue` may not issue.
    let reader = server
        .issue(&session, issue("", 0, "", &["jobs:read"]))
        .await
        .unwrap()
        .token;
    assert_reason(
        server.introspect(&reader, &session).await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
    assert_reason(
        server
            .issue(&reader, pb::IssueTokenRequest::default())
            .await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
}

#[tokio::test]
async fn service_tokens_must_not_hold_admin_rights() {
    let server = TestServer::start().await;
    let (_, admin) = server.session(Role::Admin).await;
    // Admin is never inherited by default (M1), so over-privilege has to be asked for.
    let too_much = pb::IssueTokenRequest {
        token_type: pb::TokenType::Service as i32,
        permissions: vec!["introspect".into(), "admin".into()],
        ..Default::default()
    };
    assert_reason(
        server.issue(&admin, too_much).await,
        Code::PermissionDenied,
        "OVER_PRIVILEGED",
    );
    let lean = pb::IssueTokenRequest {
        token_type: pb::TokenType::Service as i32,
        permissions: vec!["introspect".into()],
        ..Default::default()
    };
    let service = server.issue(&admin, lean).await.unwrap();
    assert!(service.token.starts_with("tsr_svc_"));
    let seen = server.peek(&service.token, &service.token).await;
    assert!(seen.active);
    assert_eq!(seen.permissions, vec!["introspect"]);
}

#[tokio::test]
async fn a_single_use_token_is_accepted_exactly_once_under_concurrency() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let service = server
        .issue(&session, issue("", 0, "", &["introspect"]))
        .await
        .unwrap()
        .token;
    let once = server
        .issue(&session, issue("10m", 1, "", &[]))
        .await
        .unwrap()
        .token;

    // Peeking does not consume.
    assert_eq!(server.peek(&service, &once).await.uses_remaining, Some(1));

    let callers = (0..32).map(|_| {
        let mut client = server.client();
        let (service, once) = (service.clone(), once.clone());
        tokio::spawn(async move {
            client
                .introspect(authed(
                    pb::IntrospectRequest {
                        token: once,
                        peek: false,
                    },
                    &service,
                ))
                .await
                .map(|r| r.into_inner().active)
        })
    });
    let mut accepted = 0;
    for caller in callers {
        if caller.await.unwrap().expect("introspect") {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 1,
        "a single-use token must be accepted exactly once"
    );
    assert!(!server.peek(&service, &once).await.active);
}

#[tokio::test]
async fn limited_use_tokens_count_down_and_are_never_cached() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let three = server
        .issue(&session, issue("", 3, "", &[]))
        .await
        .unwrap()
        .token;
    let remaining: Vec<_> = futures_util_seq(&server, &session, &three, 4).await;
    assert_eq!(
        remaining,
        vec![Some(Some(2)), Some(Some(1)), Some(Some(0)), None]
    );
}

async fn futures_util_seq(
    server: &TestServer,
    caller: &str,
    token: &str,
    n: usize,
) -> Vec<Option<Option<u32>>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let seen = server.introspect(caller, token).await.unwrap();
        out.push(seen.active.then_some(seen.uses_remaining));
    }
    out
}

#[tokio::test]
async fn malformed_tessera_tokens_are_inactive_without_error() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let real = server
        .issue(&session, pb::IssueTokenRequest::default())
        .await
        .unwrap()
        .token;
    let mut typo = real.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    assert!(!server.introspect(&session, &typo).await.unwrap().active);
    assert!(
        !server
            .introspect(&session, "not-a-token-at-all")
            .await
            .unwrap()
            .active
    );
    let empty = assert_reason(
        server.introspect(&session, "").await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&empty), "token");
}

async fn check(
    server: &TestServer,
    caller: &str,
    token: &str,
    ids: &[&str],
    action: &str,
) -> Result<pb::CheckNamespaceResponse, tonic::Status> {
    server
        .client()
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: token.into(),
                identifiers: ids.iter().map(|s| s.to_string()).collect(),
                action: action.into(),
            },
            caller,
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn check_namespace_applies_prefix_rules_to_many_identifiers() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let deploy = server
        .issue(&session, issue("", 1, "deploy.", &["jobs:read"]))
        .await
        .unwrap()
        .token;
    let verdict = check(
        &server,
        &session,
        &deploy,
        &["deploy.daily", "deploy.", "backup.x", "deploy"],
        "",
    )
    .await
    .unwrap();
    assert!(verdict.active);
    assert!(!verdict.allowed);
    assert_eq!(verdict.namespace, "deploy.");
    let decisions: Vec<(String, bool)> = verdict
        .results
        .into_iter()
        .map(|d| (d.identifier, d.allowed))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("deploy.daily".to_string(), true),
            ("deploy.".to_string(), true),
            ("backup.x".to_string(), false),
            ("deploy".to_string(), false),
        ]
    );
    assert!(
        check(&server, &session, &deploy, &["deploy.a", "deploy.b"], "")
            .await
            .unwrap()
            .allowed
    );
    // The action must be held too.
    assert!(
        check(&server, &session, &deploy, &["deploy.a"], "jobs:read")
            .await
            .unwrap()
            .allowed
    );
    assert!(
        !check(&server, &session, &deploy, &["deploy.a"], "jobs:write")
            .await
            .unwrap()
            .allowed
    );
    // Checking never consumed the single use.
    assert_eq!(server.peek(&session, &deploy).await.uses_remaining, Some(1));
    // `*` allows everything.
    assert!(
        check(&server, &session, &session, &["anything", "backup.x"], "")
            .await
            .unwrap()
            .allowed
    );

    for bad in ["has space", "tab\there", "bell\u{7}", ""] {
        let status = assert_reason(
            check(&server, &session, &deploy, &[bad], "").await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(field_of(&status), "identifiers");
    }
    assert_reason(
        check(&server, &session, &deploy, &[], "").await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );

    server
        .revoke(&session, pb::revoke_request::Target::Token(deploy.clone()))
        .await
        .unwrap();
    let revoked = check(&server, &session, &deploy, &["deploy.a"], "")
        .await
        .unwrap();
    assert_eq!(revoked, pb::CheckNamespaceResponse::default());
}

/// Issue 30: an action is one permission name, matched exactly. Whitespace once slipped past an
/// exclusion (`["*", "-run"]` allowed `" run"`), and `*` was "held" by any `*` token.
#[tokio::test]
async fn check_namespace_matches_the_action_exactly() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let all_but_run = server
        .issue(&session, issue("15m", 0, "deploy.", &["*", "-run"]))
        .await
        .unwrap()
        .token;
    let reads = server
        .issue(&session, issue("15m", 0, "deploy.", &["read"]))
        .await
        .unwrap()
        .token;
    for (token, action, allowed) in [
        (&all_but_run, "read", true),
        (&all_but_run, "run", false),
        (&reads, "read", true),
        (&reads, "run", false),
    ] {
        let verdict = check(&server, &session, token, &["deploy.a"], action)
            .await
            .unwrap();
        assert_eq!(verdict.allowed, allowed, "{action:?}");
    }
    for (token, action) in [
        (&all_but_run, " run"),
        (&all_but_run, "run "),
        (&all_but_run, "run\u{a0}"),
        (&all_but_run, "\trun"),
        (&all_but_run, "-run"),
        (&reads, "*"),
        (&all_but_run, "*"),
        (&reads, " read"),
    ] {
        let status = assert_reason(
            check(&server, &session, token, &["deploy.a"], action).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(field_of(&status), "action", "{action:?}");
        // Control characters are refused earlier, by the field bounds every input meets.
        assert!(
            action.contains(char::is_control)
                || status.message().contains("exactly one permission name"),
            "{action:?}: {}",
            status.message()
        );
    }
}

/// A `user` account cannot write audited rows without bound (issue 30: 532 rows a second from one
/// session): past its budget IssueToken and Revoke answer RESOURCE_EXHAUSTED and write nothing,
/// while another account's calls go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_past_its_write_budget_is_refused_and_others_are_not() {
    let server = TestServer::start_with(|s| tessera_server::settings::AuthSettings {
        writes_per_caller: 2,
        ..s
    })
    .await;
    let (_, mallory) = server.session(Role::User).await;
    let (_, alice) = server.session(Role::User).await;
    let mut issued = 0;
    let mut refused = None;
    for _ in 0..40 {
        match server
            .issue(&mallory, pb::IssueTokenRequest::default())
            .await
        {
            Ok(_) => issued += 1,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    // Five seconds' worth at once (10), plus what refilled while the calls ran.
    assert!(
        (10..20).contains(&issued),
        "{issued} issued before a refusal"
    );
    assert_reason(
        Err::<(), _>(refused.expect("the budget ran out")),
        Code::ResourceExhausted,
        "RESOURCE_EXHAUSTED",
    );
    let revoked = server
        .revoke(
            &mallory,
            pb::revoke_request::Target::TokenId(uuid::Uuid::new_v4().to_string()),
        )
        .await;
    assert_eq!(revoked.unwrap_err().code(), Code::ResourceExhausted);
    server
        .issue(&alice, pb::IssueTokenRequest::default())
        .await
        .expect("another account keeps its own budget");
    // An admin's session (an operator, or a service it set up) is not budgeted.
    let (_, admin) = server.session(Role::Admin).await;
    for _ in 0..30 {
        server
            .issue(&admin, pb::IssueTokenRequest::default())
            .await
            .expect("admins are not budgeted");
    }
}
