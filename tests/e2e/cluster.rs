//! Many replicas, one PostgreSQL: three `tessera serve` processes started at the same moment on a
//! fresh, unmigrated database. Migrations run exactly once (PostgreSQL's migration lock), the
//! bootstrap account is created once, and a revocation made on one replica is refused by the
//! others within a bounded lag (their caches follow LISTEN/NOTIFY).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tessera_e2e::{authed, binary};
use tessera_proto::v1 as pb;
use tessera_proto::v1::auth_service_client::AuthServiceClient;
use tessera_store::testing::TestDatabase;
use tonic::transport::Channel;

const ROOT_PASSWORD: &str = "cluster-root-password-1";

/// One `tessera serve` replica.
struct Replica {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Replica {
    fn spawn(database_url: &str, dir: &Path, name: &str) -> anyhow::Result<(Child, PathBuf)> {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let accounts = format!(
            r#"[{{"username":"root","password":"{ROOT_PASSWORD}","role":"root","display_name":"Root"}}]"#
        );
        let child = Command::new(binary("tessera")?)
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .env("TESSERA_DATABASE_URL", database_url)
            // Every replica must seal TOTP seeds with the same key.
            .env(
                "TESSERA_TOTP_KEY",
                "dGVzc2VyYS1jbHVzdGVyLXRlc3QtdG90cC1rZXktMzI=",
            )
            .env("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", accounts)
            .env("TESSERA_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("spawning tessera serve")?;
        Ok((child, log))
    }

    /// Waits for the replica's "serving" log line and reads its address from it.
    fn ready(mut child: Child, log: PathBuf) -> anyhow::Result<Replica> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            for line in text.lines() {
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if entry["fields"]["message"] == "tessera serving gRPC" {
                    if let Some(addr) = entry["fields"]["addr"].as_str() {
                        return Ok(Replica {
                            child,
                            addr: addr.to_owned(),
                            log,
                        });
                    }
                }
            }
            if let Some(status) = child.try_wait()? {
                bail!("tessera serve exited with {status}:\n{text}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("tessera serve not serving within 120 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn client(&self) -> anyhow::Result<AuthServiceClient<Channel>> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await?;
        Ok(AuthServiceClient::new(channel))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn active(
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
    let spawned = ["a", "b", "c"]
        .map(|name| Replica::spawn(&db.url, dir.path(), name))
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let replicas = spawned
        .into_iter()
        .map(|(child, log)| Replica::ready(child, log))
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
    let session = clients[0]
        .login(pb::LoginRequest {
            username: "root".into(),
            password: ROOT_PASSWORD.into(),
            totp_code: String::new(),
        })
        .await?
        .into_inner()
        .token;
    let service = clients[0]
        .issue_token(authed(
            pb::IssueTokenRequest {
                ttl: "1h".into(),
                permissions: vec!["introspect".into()],
                token_type: pb::TokenType::Service as i32,
                ..Default::default()
            },
            &session,
        ))
        .await?
        .into_inner()
        .token;

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
