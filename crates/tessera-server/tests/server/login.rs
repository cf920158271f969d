//! Login and Unlock over real gRPC against a real PostgreSQL.

use std::time::Duration;

use crate::common::*;
use tessera_core::{clock::Clock, totp::TotpSecret};
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tonic::Code;

fn login_req(username: &str, password: &str, totp: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        username: username.into(),
        password: password.into(),
        totp_code: totp.into(),
    }
}

#[tokio::test]
async fn login_opens_a_session_that_introspects_as_the_user() {
    let server = TestServer::start().await;
    let id = server
        .add_user("alice", "correct horse battery", Role::User)
        .await;
    let session = server.login("alice", "correct horse battery").await;
    assert!(session.token.starts_with("tsr_ses_"));
    let user = session.user.clone().unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(user.role, "user");
    assert_eq!(user.user_id, id.to_string());
    assert_eq!(session.session_id, session.token_id);

    let seen = server
        .introspect(&session.token, &session.token)
        .await
        .unwrap();
    assert!(seen.active);
    assert_eq!(seen.username, "alice");
    assert_eq!(seen.subject, id.to_string());
    assert_eq!(seen.roles, vec!["user"]);
    assert_eq!(seen.namespace, "*");
    assert_eq!(seen.token_type, pb::TokenType::Session as i32);
    assert_eq!(seen.session_id, session.session_id);
    assert!(!seen.elevated);
    assert_eq!(seen.uses_remaining, None);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_identical() {
    let server = TestServer::start().await;
    server
        .add_user("bob", "correct horse battery", Role::User)
        .await;
    let mut client = server.client();
    let unknown = assert_reason(
        client.login(login_req("nobody", "whatever123", "")).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let wrong = assert_reason(
        client.login(login_req("bob", "wrong password", "")).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(unknown.message(), wrong.message());
    let empty = assert_reason(
        client.login(login_req("", "x", "")).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&empty), "username");
}

/// The unknown-user path runs a full argon2 verification, like a wrong password: counted by the
/// pool, not timed (a timing of four attempts drowned in a busy machine's noise).
#[tokio::test]
async fn unknown_user_costs_the_same_hash_as_a_wrong_password() {
    let server = TestServer::start().await;
    server
        .add_user("carol", "correct horse battery", Role::User)
        .await;
    let mut client = server.client();
    let hashes = || server.authority.hash_pool().finished();
    for i in 0..3 {
        let before = hashes();
        let unknown = client
            .login(login_req(&format!("ghost{i}"), "nope-nope", ""))
            .await;
        assert_eq!(unknown.unwrap_err().code(), Code::Unauthenticated);
        assert_eq!(hashes() - before, 1, "an unknown account's verification");
        let before = hashes();
        let wrong = client.login(login_req("carol", "nope-nope", "")).await;
        assert_eq!(wrong.unwrap_err().code(), Code::Unauthenticated);
        assert_eq!(hashes() - before, 1, "a wrong password's verification");
    }
}

/// An unknown account must cost the database what a wrong password costs (issue 30: 40.25 vs
/// 44.60 ms medians told them apart): the same statements, the same committed writes. With a
/// cheap hash the database work is most of a login's time, so a missing write shows as a ratio
/// far from 1; pairs are interleaved, so a busy machine slows both sides alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_commits_the_same_work_as_a_wrong_password() {
    let server = TestServer::start_with(|s| tessera_server::settings::AuthSettings {
        argon2: tessera_core::password::Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        max_failed_logins: 1_000_000,
        ..s
    })
    .await;
    server
        .add_user("dora", "correct horse battery", Role::User)
        .await;
    let mut client = server.client();
    let mut ratios = Vec::new();
    for i in 0..125 {
        let t = std::time::Instant::now();
        let _ = client
            .login(login_req(&format!("ghost{i}"), "nope-nope", ""))
            .await;
        let unknown = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let _ = client.login(login_req("dora", "nope-nope", "")).await;
        let wrong = t.elapsed().as_secs_f64();
        // The first pairs warm connections and caches.
        if i >= 5 {
            ratios.push(wrong / unknown);
        }
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    assert!(
        (0.75..1.33).contains(&median),
        "a wrong password costs {median:.2}x an unknown account (ratios {ratios:.2?})"
    );
}

#[tokio::test]
async fn parallel_wrong_passwords_never_exceed_the_lockout_limit() {
    let server = TestServer::start().await;
    server
        .add_user("dave", "correct horse battery", Role::User)
        .await;
    let attempts = (0..20).map(|_| {
        let mut client = server.client();
        tokio::spawn(async move { client.login(login_req("dave", "wrong password", "")).await })
    });
    for attempt in attempts {
        // Locked or not, the caller sees the same answer (no account enumeration).
        assert_reason(
            attempt.await.unwrap(),
            Code::Unauthenticated,
            "INVALID_CREDENTIALS",
        );
    }
    // The audit trail keeps the truth: at most five passwords were checked.
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT detail->>'reason' FROM audit_events WHERE action = 'login' AND username = 'dave'",
    )
    .fetch_all(&server.pool)
    .await
    .unwrap();
    let checked = reasons.iter().filter(|r| *r == "wrong_password").count();
    let locked = reasons.iter().filter(|r| *r == "account_locked").count();
    assert!(
        checked <= 5,
        "{checked} attempts were checked; the limit is 5"
    );
    assert_eq!(checked + locked, 20);

    // Locked: even the right password is refused until the lock expires.
    let mut client = server.client();
    assert_reason(
        client
            .login(login_req("dave", "correct horse battery", ""))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    server.clock.advance(time::Duration::minutes(16));
    client
        .login(login_req("dave", "correct horse battery", ""))
        .await
        .expect("lock expired");
}

#[tokio::test]
async fn totp_is_required_once_enrolled_and_a_code_works_only_once() {
    let server = TestServer::start().await;
    let id = server
        .add_user("erin", "correct horse battery", Role::User)
        .await;
    let secret: TotpSecret = server.enroll_totp(id).await;
    let mut client = server.client();
    assert_reason(
        client
            .login(login_req("erin", "correct horse battery", ""))
            .await,
        Code::FailedPrecondition,
        "MFA_REQUIRED",
    );
    // Missing code does not count as a failure: five more wrong-free tries are still fine.
    let now_step = TotpSecret::step_of(server.clock.now());
    let previous = secret.code_at(now_step - 1);
    let current = secret.code_at(now_step);
    let wrong = if current == "000000" {
        "000001"
    } else {
        "000000"
    };
    assert_reason(
        client
            .login(login_req("erin", "correct horse battery", wrong))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    // A code one step old is accepted once …
    let first = client
        .login(login_req("erin", "correct horse battery", &previous))
        .await;
    assert!(first.is_ok(), "{first:?}");
    // … and refused when replayed.
    assert_reason(
        client
            .login(login_req("erin", "correct horse battery", &previous))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    // The current code is newer, so it still works, once.
    client
        .login(login_req("erin", "correct horse battery", &current))
        .await
        .expect("current code");
    assert_reason(
        client
            .login(login_req("erin", "correct horse battery", &current))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    // A wrong password with a valid code is still just invalid credentials.
    let next = secret.code_at(now_step + 1);
    assert_reason(
        client
            .login(login_req("erin", "wrong password", &next))
            .await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn unlock_elevates_a_user_with_the_root_password_for_a_capped_time() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let mut client = server.client();
    let unlock = |password: &str, ttl: &str| {
        authed(
            pb::UnlockRequest {
                password: password.into(),
                totp_code: String::new(),
                ttl: ttl.into(),
            },
            &session,
        )
    };
    // A user's own password does not elevate; the root password does.
    assert_reason(
        client.unlock(unlock("correct horse battery", "5m")).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let over = assert_reason(
        client.unlock(unlock(ROOT_PASSWORD, "2h")).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&over), "ttl");
    let garbled = assert_reason(
        client.unlock(unlock(ROOT_PASSWORD, "soon")).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(field_of(&garbled), "ttl");

    let elevated = client
        .unlock(unlock(ROOT_PASSWORD, "5m"))
        .await
        .unwrap()
        .into_inner();
    assert!(elevated.token.starts_with("tsr_elv_"));
    let seen = server.introspect(&session, &elevated.token).await.unwrap();
    assert!(seen.active && seen.elevated);
    assert_eq!(seen.token_type, pb::TokenType::Elevated as i32);

    // Elevation ends with its TTL.
    server
        .clock
        .advance(time::Duration::minutes(5) + time::Duration::seconds(1));
    assert!(
        !server
            .introspect(&session, &elevated.token)
            .await
            .unwrap()
            .active
    );

    // Locking again = revoking the elevated token.
    let again = client
        .unlock(unlock(ROOT_PASSWORD, ""))
        .await
        .unwrap()
        .into_inner();
    server
        .revoke(
            &session,
            pb::revoke_request::Target::TokenId(again.token_id.clone()),
        )
        .await
        .unwrap();
    assert!(
        !server
            .introspect(&session, &again.token)
            .await
            .unwrap()
            .active
    );
}

#[tokio::test]
async fn unlock_accepts_an_admins_own_password_and_needs_a_session() {
    let server = TestServer::start().await;
    let (_, admin) = server.session(Role::Admin).await;
    let mut client = server.client();
    let own = client
        .unlock(authed(
            pb::UnlockRequest {
                password: "correct horse battery".into(),
                totp_code: String::new(),
                ttl: "1m".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        server
            .introspect(&admin, &own.token)
            .await
            .unwrap()
            .elevated
    );

    // An API token is not a session.
    let api = server
        .issue(&admin, pb::IssueTokenRequest::default())
        .await
        .unwrap();
    assert_reason(
        client
            .unlock(authed(
                pb::UnlockRequest {
                    password: ROOT_PASSWORD.into(),
                    ..Default::default()
                },
                &api.token,
            ))
            .await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
    // No caller at all.
    assert_reason(
        client.unlock(pb::UnlockRequest::default()).await,
        Code::Unauthenticated,
        "AUTH_REQUIRED",
    );
}

#[tokio::test]
async fn every_state_change_is_audited() {
    let server = TestServer::start().await;
    server
        .add_user("frank", "correct horse battery", Role::User)
        .await;
    let mut client = server.client();
    let _ = client.login(login_req("frank", "wrong password", "")).await;
    let session = server.login("frank", "correct horse battery").await;
    let issued = server
        .issue(&session.token, pb::IssueTokenRequest::default())
        .await
        .unwrap();
    server
        .revoke(
            &session.token,
            pb::revoke_request::Target::TokenId(issued.token_id),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut conn = server.pool.acquire().await.unwrap();
    let events = tessera_store::audit::recent(&mut conn, None, 50)
        .await
        .unwrap();
    let seen: Vec<(String, String)> = events
        .iter()
        .rev()
        .map(|e| (e.action.clone(), e.outcome.clone()))
        .collect();
    for expected in [
        ("login", "failure"),
        ("login", "success"),
        ("issue", "success"),
        ("revoke", "success"),
    ] {
        assert!(
            seen.iter().any(|(a, o)| a == expected.0 && o == expected.1),
            "missing {expected:?} in {seen:?}"
        );
    }
    // No secret in the trail.
    let text = format!("{:?}", events);
    assert!(!text.contains(&session.token) && !text.contains("correct horse"));
}

/// Issue 30: more right passwords at once than the lockout limit (five) has slots. Each attempt
/// reserves a slot before its hash runs; those beyond the slots left were refused and audited as
/// failures (three of eight), and could even lock the account. Now they wait for a slot.
#[tokio::test]
async fn simultaneous_right_passwords_beyond_the_lockout_limit_all_log_in() {
    let server = TestServer::start().await;
    server
        .add_user("grace", "correct horse battery", Role::User)
        .await;
    // Two earlier mistakes leave three slots for the eight right passwords below.
    let mut client = server.client();
    for _ in 0..2 {
        let _ = client.login(login_req("grace", "wrong password", "")).await;
    }
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let mut client = server.client();
            tokio::spawn(async move {
                client
                    .login(login_req("grace", "correct horse battery", ""))
                    .await
            })
        })
        .collect();
    let mut refused = Vec::new();
    for attempt in attempts {
        if let Err(status) = attempt.await.unwrap() {
            refused.push(format!("{:?}: {}", status.code(), status.message()));
        }
    }
    assert!(refused.is_empty(), "right passwords refused: {refused:?}");

    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT detail->>'reason' FROM audit_events
         WHERE action = 'login' AND outcome = 'failure' AND username = 'grace'",
    )
    .fetch_all(&server.pool)
    .await
    .unwrap();
    assert_eq!(reasons, vec!["wrong_password"; 2], "only the two mistakes");
    let (failed, locked): (i32, Option<time::OffsetDateTime>) =
        sqlx::query_as("SELECT failed_logins, locked_until FROM users WHERE username = 'grace'")
            .fetch_one(&server.pool)
            .await
            .unwrap();
    assert_eq!((failed, locked), (0, None));
}

/// A login whose caller goes away halfway (a client deadline, a cancelled call) still runs to its
/// end: the slot it reserved is given back. Before, each such call left its slot counted, and a
/// few of them left an account no one could log in to, whatever the password.
#[tokio::test]
async fn logins_cancelled_halfway_leave_no_slot_taken() {
    let server = TestServer::start().await;
    server
        .add_user("heidi", "correct horse battery", Role::User)
        .await;
    // Deadlines spread over the few milliseconds between the reservation and the hash's end.
    for wait in 1..=12u64 {
        let mut client = server.client();
        let _ = tokio::time::timeout(
            Duration::from_millis(wait * 3),
            client.login(login_req("heidi", "correct horse battery", "")),
        )
        .await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let failed: i32 =
            sqlx::query_scalar("SELECT failed_logins FROM users WHERE username = 'heidi'")
                .fetch_one(&server.pool)
                .await
                .unwrap();
        if failed == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{failed} slots stay taken by calls that went away"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.login("heidi", "correct horse battery").await;
}

/// A login flood from one address leaves room for the others (issue 30: 200 flooding threads
/// refused 58 of 58 real logins): the flood, from 127.0.0.2, holds at most its share of the
/// hashing pool, and every real login from 127.0.0.1 goes through while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_leaves_room_for_real_logins() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let server = TestServer::start_with(|s| tessera_server::settings::AuthSettings {
        hash_workers: 1,
        hash_queue: 15,
        ..s
    })
    .await;
    server
        .add_user("erin", "correct horse battery", Role::User)
        .await;
    let flood_channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .local_address(Some([127, 0, 0, 2].into()))
        .connect()
        .await
        .expect("a connection from 127.0.0.2");
    let stop = Arc::new(AtomicBool::new(false));
    let (refused, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut flooders = Vec::new();
    for i in 0..40 {
        let mut client = pb::auth_service_client::AuthServiceClient::new(flood_channel.clone());
        let (stop, refused, answered) = (stop.clone(), refused.clone(), answered.clone());
        flooders.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let attempt = client
                    .login(login_req(&format!("nobody{i}x{n}"), "guess", ""))
                    .await;
                match attempt {
                    Err(status) if status.code() == Code::ResourceExhausted => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    _ => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // The flood first fills what it may hold.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while refused.load(Ordering::Relaxed) < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flood never filled its share"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut client = server.client();
    for _ in 0..8 {
        let login = client
            .login(login_req("erin", "correct horse battery", ""))
            .await;
        assert!(login.is_ok(), "a real login during the flood: {login:?}");
    }
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        flooder.await.unwrap();
    }
    assert!(
        answered.load(Ordering::Relaxed) > 0,
        "the flood was served its share"
    );
}

/// An edge logging browsers in names each browser's address, and the hashing pool counts the
/// attempt against it, not against the edge: one browser's flood leaves the others room. Only a
/// token that holds `introspect` and sees every token may name an address; anyone else's header
/// is ignored, so a client cannot spread its own flood over invented addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_names_the_client_a_login_counts_against() {
    let server = TestServer::start_with(|s| tessera_server::settings::AuthSettings {
        hash_workers: 1,
        hash_queue: 7,
        ..s
    })
    .await;
    server
        .add_user("frank", "correct horse battery", Role::User)
        .await;
    let (_, admin) = server.session(Role::Admin).await;
    let edge = server
        .issue(
            &admin,
            pb::IssueTokenRequest {
                permissions: vec!["introspect".into()],
                token_type: pb::TokenType::Service.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .token;
    let (_, user) = server.session(Role::User).await;
    let login_as = |caller: String, address: String, password: &'static str| {
        let mut client = server.client();
        async move {
            let mut request = authed(login_req("frank", password, ""), &caller);
            request.metadata_mut().insert(
                tessera_proto::CLIENT_ADDRESS_HEADER,
                address.parse().unwrap(),
            );
            client.login(request).await
        }
    };
    let busy = |outcomes: &[Result<tonic::Response<pb::LoginResponse>, tonic::Status>]| {
        outcomes
            .iter()
            .filter(|o| {
                o.as_ref()
                    .is_err_and(|s| s.message().contains("from this address"))
            })
            .count()
    };

    // One browser floods through the edge; another logs in at the same moment.
    let flood: Vec<_> = (0..10)
        .map(|_| tokio::spawn(login_as(edge.clone(), "10.9.9.9".into(), "guess")))
        .collect();
    let real = login_as(edge.clone(), "10.1.1.1".into(), "correct horse battery").await;
    let mut outcomes = Vec::new();
    for call in flood {
        outcomes.push(call.await.unwrap());
    }
    assert!(
        busy(&outcomes) > 0,
        "the flooding address held only its share"
    );
    assert!(real.is_ok(), "the other browser logged in: {real:?}");

    // A user's session naming a new address each time gains nothing: its calls count against
    // the connection's own address.
    let spoofed: Vec<_> = (0..10)
        .map(|i| tokio::spawn(login_as(user.clone(), format!("10.0.0.{i}"), "guess")))
        .collect();
    let mut outcomes = Vec::new();
    for call in spoofed {
        outcomes.push(call.await.unwrap());
    }
    assert!(busy(&outcomes) > 0, "invented addresses were ignored");
}
