//! Many replicas, one PostgreSQL: three `tessera serve` processes started at the same moment on a
//! fresh, unmigrated database. Migrations run exactly once (PostgreSQL's migration lock), the
//! bootstrap account is created once, and a revocation made on one replica is refused by the
//! others within a bounded lag (their caches follow LISTEN/NOTIFY).

use std::time::{Duration, Instant};

use tessera_harness::{
    authed,
    cluster::{introspect_service_token, root_session, Replica, ReplicaSpec},
};
use tessera_proto::v1 as pb;
use tessera_proto::v1::auth_service_client::AuthServiceClient;
use tessera_store::testing::TestDatabase;
use tonic::transport::Channel;

pub(crate) async fn active(
    client: &mut AuthServiceClient<Channel>,
    service: &str,
    token: &str,
) -> anyhow::Result<bool> {
    Ok(client
        .introspect(authed(
            pb::IntrospectRequest {
                token: token.to_owned(),
                peek: true,
            },
            service,
        ))
        .await?
        .into_inner()
        .active)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_migrate_once_and_share_revocations() -> anyhow::Result<()> {
    // An empty migrator: the database starts bare, as on a first deployment.
    let db = TestDatabase::new(&sqlx::migrate::Migrator::DEFAULT).await?;
    let dir = tempfile::tempdir()?;
    let spec = ReplicaSpec::new(&db.url);
    let spawned = ["a", "b", "c"]
        .map(|name| Replica::spawn(&spec, dir.path(), name))
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let replicas = spawned
        .into_iter()
        .map(Replica::ready)
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Each migration applied once, successfully; one bootstrapped root account.
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&db.pool)
            .await?;
    let expected: Vec<i64> = tessera_store::MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(
        applied.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        expected
    );
    assert!(applied.iter().all(|(_, ok)| *ok));
    let roots: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username = 'root'")
        .fetch_one(&db.pool)
        .await?;
    assert_eq!(roots, 1);
    for replica in &replicas {
        let log = replica.log();
        assert!(
            !log.contains(r#""level":"ERROR""#),
            "a replica logged an error:\n{log}"
        );
    }

    let mut clients = Vec::new();
    for replica in &replicas {
        clients.push(replica.client().await?);
    }
    let session = root_session(&mut clients[0]).await?;
    let service = introspect_service_token(&mut clients[0], &session).await?;

    // Revoke on A; B and C (which hold the token in their caches) must refuse it shortly after.
    let rounds = 40;
    let mut lags = Vec::with_capacity(rounds * 2);
    for _ in 0..rounds {
        let issued = clients[0]
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
        for client in &mut clients[1..] {
            assert!(active(client, &service, &issued.token).await?);
        }
        clients[0]
            .revoke(authed(
                pb::RevokeRequest {
                    target: Some(pb::revoke_request::Target::TokenId(issued.token_id.clone())),
                    reason: "cluster test".into(),
                    ..Default::default()
                },
                &session,
            ))
            .await?;
        let revoked_at = Instant::now();
        for client in &mut clients[1..] {
            while active(client, &service, &issued.token).await? {
                assert!(
                    revoked_at.elapsed() < Duration::from_secs(5),
                    "a revoked token stayed active on another replica for 5 s"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            lags.push(revoked_at.elapsed());
        }
    }
    lags.sort();
    let p50 = lags[lags.len() / 2];
    let p99 = lags[lags.len() * 99 / 100];
    eprintln!(
        "revocation lag across replicas over {} observations: p50 {p50:?}, p99 {p99:?}, max {:?}",
        lags.len(),
        lags[lags.len() - 1]
    );
    drop(clients);
    drop(replicas);
    db.cleanup().await?;
    Ok(())
}

/// Three free consecutive loopback ports, for a script that takes a base port.
fn three_free_ports() -> u16 {
    loop {
        let base = tessera_harness::closed_port();
        if base < 65000
            && (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
}

/// scripts/cluster.sh's documented drain drill (`kill -TERM` replica b) drains b and leaves the
/// other two serving; it used to stop the whole cluster (`wait -n`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_script_keeps_serving_when_one_replica_drains() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let dir = tessera_harness::temp_dir("tessera-cluster-script-")?;
    let base = three_free_ports();
    let out = dir.path().join("script.out");
    let mut script = std::process::Command::new("bash")
        .arg(tessera_harness::workspace_root().join("scripts/cluster.sh"))
        .env("TESSERA_BIN", tessera_harness::binary("tessera")?)
        .env("TESSERA_CLUSTER_DIR", dir.path().join("cluster"))
        .env("TESSERA_CLUSTER_PORT", base.to_string())
        .env("TESSERA_DEV_HTTP_EDGE", "127.0.0.1:0")
        .env("TESSERA_DEV_LINE_EDGE", "127.0.0.1:0")
        .env("TESSERA_DEV_LINE_DEMO", "127.0.0.1:0")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(dir.path().join("script.err"))?)
        .process_group(0)
        .spawn()?;
    let group = nix::unistd::Pid::from_raw(script.id() as i32);
    let result = async {
        let deadline = Instant::now() + tessera_harness::DEV_START_DEADLINE;
        while !std::fs::read_to_string(&out)?.contains("Ctrl-C stops the cluster") {
            anyhow::ensure!(
                script.try_wait()?.is_none(),
                "cluster.sh exited before it was up"
            );
            anyhow::ensure!(Instant::now() < deadline, "cluster.sh not up in time");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let addr = |i: u16| format!("127.0.0.1:{}", base + i);
        let b: i32 = std::fs::read_to_string(dir.path().join("cluster/b.pid"))?
            .trim()
            .parse()?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(b),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::path::Path::new(&format!("/proc/{b}")).exists() {
            anyhow::ensure!(Instant::now() < deadline, "replica b did not drain");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Give the script a moment in which the old `wait -n` would have stopped everything.
        tokio::time::sleep(Duration::from_secs(3)).await;
        anyhow::ensure!(
            script.try_wait()?.is_none(),
            "cluster.sh stopped with one replica drained"
        );
        for i in [0, 2] {
            anyhow::ensure!(
                tessera_harness::serving(&addr(i)).await?,
                "{} stopped serving",
                addr(i)
            );
        }
        Ok(())
    }
    .await;
    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(90);
    let stopped = loop {
        match script.try_wait()? {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => break None,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    result.map_err(|e| {
        // What the script and each replica said, so that a failure here can be told apart
        // (a replica that exited says why in its own log).
        let mut said = std::fs::read_to_string(dir.path().join("script.err")).unwrap_or_default();
        for name in ["a", "b", "c"] {
            let log = std::fs::read_to_string(dir.path().join(format!("cluster/{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            said.push_str(&format!("\n--- replica {name}, last lines of its log:\n"));
            for line in tail.into_iter().rev() {
                said.push_str(line);
                said.push('\n');
            }
        }
        e.context(said)
    })?;
    anyhow::ensure!(stopped.is_some(), "cluster.sh did not stop on SIGTERM");
    Ok(())
}
