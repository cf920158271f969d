//! Several replicas, one killed mid-load: a client given every replica's address moves to the next
//! one, no revoked token is ever accepted, and no revocation the client was told about is lost.
//! Real `tessera serve` processes on one real PostgreSQL (the e2e crate's cluster harness).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tessera_client::{Client, IssueToken, Login, RevokeTarget, Secret};
use tessera_harness::cluster::{Cluster, ReplicaSpec, ROOT_PASSWORD};
use tessera_store::testing::TestDatabase;

const WORKERS: usize = 4;

/// What the workers saw, shared.
#[derive(Default)]
struct Tally {
    cycles: AtomicU64,
    accepted_after_revoke: AtomicU64,
    failed_calls: AtomicU64,
    /// Tokens whose Revoke answered OK: each must stay revoked on the surviving replica.
    revoked: Mutex<Vec<Secret>>,
    /// When each completed cycle ended.
    completions: Mutex<Vec<Instant>>,
}

/// Issue → peek (active) → revoke → peek (must be inactive), until told to stop.
async fn churn(admin: Client, service: Client, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let cycle = async {
            let issued = admin
                .issue_token(IssueToken::new(Duration::from_secs(600)).namespace("deploy."))
                .await?;
            anyhow::ensure!(service.peek(issued.token.expose()).await?.active);
            admin
                .revoke(RevokeTarget::TokenId(issued.token_id.clone()), "failover")
                .await?;
            let token = issued.token;
            tally.revoked.lock().unwrap().push(token.clone());
            if service.peek(token.expose()).await?.active {
                tally.accepted_after_revoke.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        };
        match cycle.await {
            Ok(()) => {
                tally.cycles.fetch_add(1, Ordering::Relaxed);
                tally.completions.lock().unwrap().push(Instant::now());
            }
            Err(error) => {
                eprintln!("failed cycle: {error:#}");
                tally.failed_calls.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_every_replica_survives_one_killed_mid_load() -> anyhow::Result<()> {
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await?;
    let dir = tempfile::tempdir()?;
    let mut cluster = Cluster::start(&ReplicaSpec::new(&db.url), dir.path(), 2)?;
    // The first address is the one the client starts on: it is the one killed.
    let anonymous = Client::connect(cluster.urls()).await?;
    let session = anonymous
        .login(Login::new("root", Secret::new(ROOT_PASSWORD.into())))
        .await?;
    let admin = anonymous.with_token(session.token.expose())?;
    let service_token = admin
        .issue_token(
            IssueToken::new(Duration::from_secs(3600))
                .permission("introspect")
                .service(),
        )
        .await?;
    let service = anonymous.with_token(service_token.token.expose())?;

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            tokio::spawn(churn(
                admin.clone(),
                service.clone(),
                tally.clone(),
                stop.clone(),
            ))
        })
        .collect();

    // Load on the first replica, then SIGKILL it mid-load.
    let warm = Instant::now();
    while tally.cycles.load(Ordering::Relaxed) < 20 {
        assert!(
            warm.elapsed() < Duration::from_secs(60),
            "no load before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before_kill = tally.cycles.load(Ordering::Relaxed);
    cluster.replicas[0].kill();
    let killed_at = Instant::now();
    // Keep the load on until 20 more cycles completed on the survivor (bounded).
    while tally.cycles.load(Ordering::Relaxed) < before_kill + 20 {
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "the client never moved to the surviving replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await?;
    }

    let first_after_kill = tally
        .completions
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|at| *at > killed_at)
        .min()
        .expect("cycles completed after the kill");
    let failover = first_after_kill - killed_at;
    let accepted = tally.accepted_after_revoke.load(Ordering::Relaxed);
    let failed = tally.failed_calls.load(Ordering::Relaxed);
    eprintln!(
        "rust client failover: {} cycles, first cycle completed {:?} after the kill, {failed} failed \
         cycles, {accepted} accepted after revoke",
        tally.cycles.load(Ordering::Relaxed),
        failover
    );
    assert_eq!(accepted, 0, "a revoked token was accepted");
    // A call already sent to the dying replica (an IssueToken, which is never repeated) may fail
    // once per worker; nothing else may.
    assert!(
        failed <= WORKERS as u64,
        "{failed} failed cycles for {WORKERS} workers"
    );

    // No lost write: every revocation the client was told about holds on the survivor.
    let revoked = tally.revoked.lock().unwrap().clone();
    for token in &revoked {
        assert!(
            !service.peek(token.expose()).await?.active,
            "a revocation acknowledged before the kill was lost"
        );
    }
    drop(cluster);
    db.cleanup().await?;
    Ok(())
}
