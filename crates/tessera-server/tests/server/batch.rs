//! Issue 13: concurrent cache misses on one replica go to PostgreSQL together, as one statement,
//! and every waiting caller still spends exactly its own use of a limited-use token.

use std::sync::Arc;

use crate::common::*;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;

async fn limited(server: &TestServer, session: &str, uses: u32) -> String {
    server
        .issue(
            session,
            pb::IssueTokenRequest {
                max_uses: uses,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .token
}

async fn watcher(server: &TestServer) -> String {
    let (_, admin) = server.session(Role::Admin).await;
    let watcher = server
        .issue(
            &admin,
            pb::IssueTokenRequest {
                permissions: vec!["introspect".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .token;
    // Cached from here on: the calls below miss only on the tokens they examine.
    assert!(server.peek(&watcher, &watcher).await.active);
    watcher
}

/// A server whose cache lease outlasts the test: on a busy machine a late renewal would empty the
/// cache and count a miss these tests did not cause.
async fn steady_server() -> TestServer {
    TestServer::start_with(|settings| tessera_server::settings::AuthSettings {
        feed_lease: std::time::Duration::from_secs(30),
        ..settings
    })
    .await
}

/// Without concurrency every miss is its own statement, sent at once: nothing waits for a batch.
#[tokio::test]
async fn a_lone_miss_goes_alone() {
    let server = steady_server().await;
    let watcher = watcher(&server).await;
    let (_, session) = server.session(Role::User).await;
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(limited(&server, &session, 2).await);
    }
    let stats = server.authority.miss_stats();
    let (reads, statements) = (stats.reads(), stats.statements());
    for token in &tokens {
        assert!(server.introspect(&watcher, token).await.unwrap().active);
    }
    assert_eq!(stats.reads() - reads, 10);
    assert_eq!(
        stats.statements() - statements,
        10,
        "one statement per lone miss"
    );
}

/// Sixteen callers present the same limited-use tokens (1, 2 or 3 uses) over and over, each in its
/// own order, while others peek at them and check namespaces (which never spend a use): exactly
/// each token's uses are accepted, and the misses went in fewer statements than reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_share_statements_and_spend_exact_uses() {
    let server = steady_server().await;
    let watcher = watcher(&server).await;
    let (_, session) = server.session(Role::User).await;
    let mut tokens = Vec::new();
    for i in 0..30u32 {
        let uses = i % 3 + 1;
        tokens.push((limited(&server, &session, uses).await, uses));
    }
    let tokens = Arc::new(tokens);
    let stats = server.authority.miss_stats();
    let (reads, statements) = (stats.reads(), stats.statements());

    let mut callers = Vec::new();
    for caller in 0..16usize {
        let (mut client, tokens, watcher) = (server.client(), Arc::clone(&tokens), watcher.clone());
        callers.push(tokio::spawn(async move {
            let mut accepted = vec![0u32; tokens.len()];
            for round in 0..3 {
                for step in 0..tokens.len() {
                    let i = (step + caller * 7 + round * 11) % tokens.len();
                    let token = tokens[i].0.clone();
                    match caller % 4 {
                        // Peeking and namespace checks never spend a use.
                        0 => {
                            client
                                .introspect(authed(
                                    pb::IntrospectRequest { token, peek: true },
                                    &watcher,
                                ))
                                .await
                                .expect("peek");
                        }
                        1 => {
                            client
                                .check_namespace(authed(
                                    pb::CheckNamespaceRequest {
                                        token,
                                        identifiers: vec!["a".into(), "b.c".into()],
                                        action: String::new(),
                                    },
                                    &watcher,
                                ))
                                .await
                                .expect("check namespace");
                        }
                        _ => {
                            let answer = client
                                .introspect(authed(
                                    pb::IntrospectRequest { token, peek: false },
                                    &watcher,
                                ))
                                .await
                                .expect("introspect")
                                .into_inner();
                            if answer.active {
                                accepted[i] += 1;
                            }
                        }
                    }
                }
            }
            accepted
        }));
    }
    let mut accepted = vec![0u32; tokens.len()];
    for caller in callers {
        for (total, own) in accepted.iter_mut().zip(caller.await.unwrap()) {
            *total += own;
        }
    }
    // 8 consuming callers × 3 rounds present each token 24 times.
    let expected: Vec<u32> = tokens.iter().map(|(_, uses)| *uses).collect();
    assert_eq!(accepted, expected, "each token accepted exactly its uses");
    for (token, _) in tokens.iter() {
        let left = server.peek(&watcher, token).await;
        assert!(!left.active, "used up");
    }
    let (reads, statements) = (stats.reads() - reads, stats.statements() - statements);
    eprintln!("{reads} reads in {statements} statements");
    assert!(reads >= 16 * 3 * 30, "every call missed the cache: {reads}");
    assert!(
        statements < reads,
        "concurrent misses were coalesced: {reads} reads in {statements} statements"
    );
}

/// One statement at a time makes the batches large, but a statement can stall: here its
/// use-counting write waits for a row lock that another transaction holds, as a large revocation
/// would. The misses behind it must not wait for the lock: once the statement is old enough they
/// go in another one, and only the caller of the locked token waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_statement_does_not_hold_up_other_misses() {
    let server = steady_server().await;
    let watcher = watcher(&server).await;
    let (_, session) = server.session(Role::User).await;
    let locked = limited(&server, &session, 5).await;
    let mut others = Vec::new();
    for uses in [0, 2, 0, 3, 0, 4] {
        others.push(limited(&server, &session, uses).await);
    }
    let hash = tessera_rules::token::TokenHash::of(&locked);
    let mut holder = server.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tokens WHERE hash = $1 FOR UPDATE")
        .bind(&hash.as_bytes()[..])
        .execute(&mut *holder)
        .await
        .unwrap();

    let stuck = {
        let (client, watcher, locked) = (server.client(), watcher.clone(), locked.clone());
        tokio::spawn(async move {
            let mut client = client;
            client
                .introspect(authed(
                    pb::IntrospectRequest {
                        token: locked,
                        peek: false,
                    },
                    &watcher,
                ))
                .await
                .map(|answer| answer.into_inner().active)
        })
    };
    // The stuck call's statement is now waiting for the lock.
    tokio::time::sleep(tessera_server::service::misses::STALLED * 25).await;
    assert!(
        !stuck.is_finished(),
        "the locked token's use waits for the lock"
    );

    // Without another statement these would wait for the lock, which is released only after
    // them: the timeout is a deadlock detector, not a latency goal.
    for token in &others {
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            server.introspect(&watcher, token),
        )
        .await
        .expect("a miss waited behind the stalled statement")
        .unwrap();
        assert!(answer.active);
    }
    assert!(!stuck.is_finished(), "still waiting for the lock");
    holder.rollback().await.unwrap();
    let spent = tokio::time::timeout(std::time::Duration::from_secs(20), stuck)
        .await
        .expect("the locked token's call ends once the lock is gone")
        .unwrap()
        .unwrap();
    assert!(spent, "its use was counted once the lock was released");
}
