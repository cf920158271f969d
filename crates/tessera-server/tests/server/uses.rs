//! Issue 12, M2: uses are conserved. A child's `max_uses` come out of its parent's remaining uses
//! atomically, so an N-use token and everything derived from it are accepted at most N times,
//! whatever the shape of the tree and however the calls interleave.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use crate::common::*;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tokio::sync::Mutex;
use tonic::Code;

#[tokio::test]
async fn the_reported_case_five_uses_stay_five() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let root = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                max_uses: 5,
                permissions: vec!["issue".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Authenticating the call spends one use (4 left), so a 5-use child is refused...
    assert_reason(
        server
            .issue(
                &root.token,
                pb::IssueTokenRequest {
                    max_uses: 5,
                    ..Default::default()
                },
            )
            .await,
        Code::PermissionDenied,
        "PRIVILEGE_EXCEEDED",
    );
    // ...and that refused call spent one (4 left). This call spends one (3 left) and the child
    // takes all three.
    let child = server
        .issue(
            &root.token,
            pb::IssueTokenRequest {
                max_uses: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(child.max_uses, Some(3));
    // Two calls by the root and three uses of the child: five, and not one more (the old code
    // let the root keep its own uses and accepted 14 from this shape).
    assert_reason(
        server
            .issue(&root.token, pb::IssueTokenRequest::default())
            .await,
        Code::Unauthenticated,
        "AUTH_FAILED",
    );
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
    let mut accepted = 0;
    for _ in 0..5 {
        if server
            .introspect(&watcher, &child.token)
            .await
            .unwrap()
            .active
        {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 3);
}

/// SplitMix64: a seeded, reproducible generator (no dependency for a test's dice).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// What one tree was worth.
struct Tally {
    accepted: AtomicU64,
}

/// Random trees grown and spent by concurrent callers: each operation picks a token of the tree
/// and either presents it to Introspect (a use, when accepted) or issues a child from it with a
/// random `max_uses` (the call itself is a use when it authenticates).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_trees_never_accept_more_uses_than_their_root_had() {
    let server = TestServer::start().await;
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
    let (_, session) = server.session(Role::User).await;
    let seed: u64 = std::env::var("TESSERA_USES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let trees: usize = std::env::var("TESSERA_USES_TREES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    eprintln!("seed {seed} (TESSERA_USES_SEED reproduces it)");
    let mut rng = Dice(seed);
    let mut worst = 0.0f64;
    for tree in 0..trees {
        let n = rng.between(2, 12) as u32;
        let root = server
            .issue(
                &session,
                pb::IssueTokenRequest {
                    max_uses: n,
                    permissions: vec!["issue".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .token;
        let tokens = Arc::new(Mutex::new(vec![root]));
        let tally = Arc::new(Tally {
            accepted: AtomicU64::new(0),
        });
        let mut workers = Vec::new();
        for worker in 0..4u64 {
            let (server_client, tokens, tally, watcher) = (
                server.client(),
                Arc::clone(&tokens),
                Arc::clone(&tally),
                watcher.clone(),
            );
            let mut rng = Dice(seed ^ ((tree as u64) << 8) ^ worker);
            let ops = 3 * n as usize;
            workers.push(tokio::spawn(async move {
                let mut client = server_client;
                for _ in 0..ops {
                    let token = {
                        let tokens = tokens.lock().await;
                        tokens[rng.between(0, tokens.len() as u64 - 1) as usize].clone()
                    };
                    if rng.next().is_multiple_of(2) {
                        let answer = client
                            .introspect(authed(
                                pb::IntrospectRequest { token, peek: false },
                                &watcher,
                            ))
                            .await
                            .unwrap()
                            .into_inner();
                        if answer.active {
                            tally.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                    } else {
                        let ask = rng.between(1, u64::from(n)) as u32;
                        let answer = client
                            .issue_token(authed(
                                pb::IssueTokenRequest {
                                    max_uses: ask,
                                    permissions: vec!["issue".into()],
                                    ..Default::default()
                                },
                                &token,
                            ))
                            .await;
                        match answer {
                            Ok(child) => {
                                tally.accepted.fetch_add(1, Ordering::SeqCst);
                                tokens.lock().await.push(child.into_inner().token);
                            }
                            // Refused before authentication succeeded: no use was spent.
                            Err(status) if status.code() == Code::Unauthenticated => {}
                            // Authenticated (a use spent), then refused for asking too much.
                            Err(status) => {
                                assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
                                tally.accepted.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                }
            }));
        }
        for worker in workers {
            worker.await.unwrap();
        }
        let accepted = tally.accepted.load(Ordering::SeqCst);
        worst = worst.max(accepted as f64 / f64::from(n));
        assert!(
            accepted <= u64::from(n),
            "tree {tree}: {accepted} uses accepted from a {n}-use root (seed {seed})"
        );
    }
    eprintln!("M2: {trees} random trees, worst accepted/N = {worst:.2}");
}
