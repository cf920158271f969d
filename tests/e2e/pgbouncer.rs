//! Replicas behind a real PgBouncer in transaction pooling mode: queries through PgBouncer, the
//! LISTENs and the migration lock through `--direct-database-url`.
//!
//! sqlx 0.8 names every prepared statement (`sqlx_s_<n>`, counted per client connection) and sends
//! Parse and Bind in separate round trips, so a transaction pooler must track prepared statements
//! (`max_prepared_statements`, PgBouncer 1.21 and later): it prepares each statement on whichever
//! server session runs it. Debian 12's PgBouncer 1.18 cannot, and fails at once ("prepared
//! statement sqlx_s_1 already exists"); scripts/install-tools.sh builds 1.24 from Debian 13's
//! source package. docs/operations.md has the settings.

use std::time::{Duration, Instant};

use tessera_harness::{
    authed,
    cluster::{introspect_service_token, root_session, PgBouncer, Replica, ReplicaSpec, Upstream},
};
use tessera_proto::v1 as pb;
use tessera_store::testing::TestDatabase;

use crate::cluster::active;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_through_pgbouncer() -> anyhow::Result<()> {
    if PgBouncer::binary().is_none() {
        // scripts/install-tools.sh installs it; CI runs that first.
        panic!("pgbouncer is not installed: run scripts/install-tools.sh (it builds it into .tools/bin)");
    }
    // A bare database: the replicas migrate it through the direct URL.
    let db = TestDatabase::new(&sqlx::migrate::Migrator::DEFAULT).await?;
    let upstream = Upstream::from_url(&db.url)?;
    let bouncer = PgBouncer::start(&upstream, "transaction", 4)?;
    let pooled_url = bouncer.url(&upstream);
    let dir = tempfile::tempdir()?;
    let spec = ReplicaSpec::new(&pooled_url).args([
        "--direct-database-url",
        db.url.as_str(),
        "--db-max-connections",
        "8",
    ]);
    let a = Replica::start(&spec, dir.path(), "a")?;
    let b = Replica::start(&spec, dir.path(), "b")?;
    let mut ca = a.client().await?;
    let mut cb = b.client().await?;

    let session = root_session(&mut ca).await?;
    let service = introspect_service_token(&mut cb, &session).await?;

    // Load from both replicas at once: 16 workers each issuing, introspecting (consuming a use
    // of a limited token, uncached) and revoking; every call must succeed.
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (mut issue_on, mut check_on) = if worker % 2 == 0 {
            (ca.clone(), cb.clone())
        } else {
            (cb.clone(), ca.clone())
        };
        let session = session.clone();
        let service = service.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..10 {
                let issued = issue_on
                    .issue_token(authed(
                        pb::IssueTokenRequest {
                            ttl: "10m".into(),
                            max_uses: 3,
                            namespace: "deploy.".into(),
                            ..Default::default()
                        },
                        &session,
                    ))
                    .await?
                    .into_inner();
                let seen = check_on
                    .introspect(authed(
                        pb::IntrospectRequest {
                            token: issued.token.clone(),
                            peek: false,
                        },
                        &service,
                    ))
                    .await?
                    .into_inner();
                anyhow::ensure!(seen.active && seen.uses_remaining == Some(2), "{seen:?}");
                issue_on
                    .revoke(authed(
                        pb::RevokeRequest {
                            target: Some(pb::revoke_request::Target::TokenId(issued.token_id)),
                            reason: "pgbouncer test".into(),
                            ..Default::default()
                        },
                        &session,
                    ))
                    .await?;
                anyhow::ensure!(
                    !active(&mut check_on, &service, &issued.token).await?,
                    "a revoked token was accepted through pgbouncer"
                );
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }

    // A revocation on A reaches B's cache through B's direct LISTEN, not through PgBouncer.
    let issued = ca
        .issue_token(authed(
            pb::IssueTokenRequest {
                ttl: "10m".into(),
                namespace: "deploy.".into(),
                ..Default::default()
            },
            &session,
        ))
        .await?
        .into_inner();
    assert!(active(&mut cb, &service, &issued.token).await?);
    assert!(
        active(&mut cb, &service, &issued.token).await?,
        "cached on B now"
    );
    ca.revoke(authed(
        pb::RevokeRequest {
            target: Some(pb::revoke_request::Target::TokenId(issued.token_id)),
            reason: "pgbouncer test".into(),
            ..Default::default()
        },
        &session,
    ))
    .await?;
    let revoked_at = Instant::now();
    while active(&mut cb, &service, &issued.token).await? {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "B kept accepting a token revoked on A for 5 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eprintln!(
        "pgbouncer: revocation seen on the other replica after {:?}",
        revoked_at.elapsed()
    );

    for replica in [&a, &b] {
        let log = replica.log();
        assert!(
            !log.contains(r#""level":"ERROR""#) && !log.contains("prepared statement"),
            "a replica logged an error:\n{log}"
        );
        assert!(log.contains("revocation feed live"), "{log}");
    }
    let log = bouncer.log();
    assert!(!log.contains("prepared statement"), "{log}");
    drop((ca, cb, a, b, bouncer));
    db.cleanup().await?;
    Ok(())
}
