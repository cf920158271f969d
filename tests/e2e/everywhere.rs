//! Revocation that holds everywhere: the three ways a follower of the revocation feed used to keep
//! admitting revoked tokens, each reproduced against real replicas, a real PostgreSQL and the real
//! HTTP edge, and a Revoke that returns only once every follower acknowledged it or lost its
//! lease.
//!
//! * a replica cut off from PostgreSQL (a proxy that forwards nothing but keeps every socket
//!   open) while six tasks keep its pool busy;
//! * a revocation feed that goes backwards under running replicas (a restore: the newest feed
//!   rows gone, the sequence set back, every session cut);
//! * an HTTP edge whose followed replica froze (SIGSTOP), so its stream falls silent.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tessera_harness::{
    authed, binary,
    cluster::{introspect_service_token, root_session, Replica, ReplicaSpec, Upstream},
    proxy::FreezableProxy,
};
use tessera_proto::v1::{self as pb, auth_service_client::AuthServiceClient};
use tessera_store::testing::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

async fn issue(
    client: &mut AuthServiceClient<Channel>,
    session: &str,
    max_uses: u32,
) -> anyhow::Result<pb::IssueTokenResponse> {
    Ok(client
        .issue_token(authed(
            pb::IssueTokenRequest {
                ttl: "10m".into(),
                max_uses,
                ..Default::default()
            },
            session,
        ))
        .await?
        .into_inner())
}

async fn revoke(
    client: &mut AuthServiceClient<Channel>,
    session: &str,
    token_id: &str,
) -> Result<pb::RevokeResponse, tonic::Status> {
    client
        .revoke(authed(
            pb::RevokeRequest {
                target: Some(pb::revoke_request::Target::TokenId(token_id.to_owned())),
                reason: "everywhere test".into(),
                ..Default::default()
            },
            session,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// Whether `client` calls `token` active, within `limit`; `None` when it gave no answer (an error
/// or no answer in time: a refusal either way).
async fn admits(
    client: &mut AuthServiceClient<Channel>,
    service: &str,
    token: &str,
    limit: Duration,
) -> Option<bool> {
    let call = client.introspect(authed(
        pb::IntrospectRequest {
            token: token.to_owned(),
            peek: true,
        },
        service,
    ));
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(answer)) => Some(answer.into_inner().active),
        _ => None,
    }
}

/// Asks until the replica answers (its pool may be reconnecting), then whether it admits.
async fn answered(
    client: &mut AuthServiceClient<Channel>,
    service: &str,
    token: &str,
) -> anyhow::Result<bool> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(active) = admits(client, service, token, Duration::from_secs(2)).await {
            return Ok(active);
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the replica gave no answer for 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes sure `token` is in the replica's cache: asked a few times (a replica caches an answer
/// while its lease holds, so one ask usually does).
async fn warm(
    client: &mut AuthServiceClient<Channel>,
    service: &str,
    token: &str,
) -> anyhow::Result<()> {
    for _ in 0..3 {
        anyhow::ensure!(answered(client, service, token).await?, "token not active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_cut_off_from_postgres_under_load_admits_no_revoked_token() -> anyhow::Result<()>
{
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await?;
    let upstream = Upstream::from_url(&db.url)?;
    let proxy = FreezableProxy::start(Path::new(&upstream.host), upstream.port).await?;
    let dir = tempfile::tempdir()?;
    let a = Replica::start(&ReplicaSpec::new(&db.url), dir.path(), "a")?;
    let cut_url = proxy.url(&upstream.user, &upstream.database);
    let cut = Replica::start(&ReplicaSpec::new(&cut_url), dir.path(), "cut")?;
    let mut on_a = a.client().await?;
    let mut on_cut = cut.client().await?;
    let session = root_session(&mut on_a).await?;
    let service = introspect_service_token(&mut on_a, &session).await?;

    let victim = issue(&mut on_a, &session, 0).await?;
    warm(&mut on_cut, &service, &victim.token).await?;

    // Six tasks of uncached Introspects (a limited-use token is never cached) keep the cut
    // replica's pool busy, so no connection sits idle long enough to be pinged.
    let busy = issue(&mut on_a, &session, 1_000_000).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..6 {
        let (mut client, service, token, stop) = (
            on_cut.clone(),
            service.clone(),
            busy.token.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                admits(&mut client, &service, &token, Duration::from_secs(1)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.freeze();
    let started = Instant::now();
    let revoked = revoke(&mut on_a, &session, &victim.token_id).await?;
    let took = started.elapsed();
    // Right after Revoke returned, and for a while after: the cut replica never admits it.
    for _ in 0..8 {
        let answer = admits(&mut on_cut, &service, &victim.token, Duration::from_secs(1)).await;
        assert_ne!(
            answer,
            Some(true),
            "a replica cut off from PostgreSQL admitted a token revoked elsewhere"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(revoked.revoked_count, 1);
    assert!(revoked.everywhere, "{revoked:?}");
    assert!(
        revoked.lapsed.iter().any(|name| name.contains(&cut.addr)),
        "the cut replica is named as lapsed: {revoked:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "Revoke waited {took:?} for a replica that cannot answer"
    );

    proxy.thaw();
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await?;
    }
    assert!(
        !answered(&mut on_cut, &service, &victim.token).await?,
        "once back, the replica refuses the revoked token"
    );
    drop((on_a, on_cut, a, cut));
    db.cleanup().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_feed_that_goes_backwards_blinds_no_replica() -> anyhow::Result<()> {
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await?;
    let dir = tempfile::tempdir()?;
    let spec = ReplicaSpec::new(&db.url);
    let replicas = ["a", "b", "c"]
        .map(|name| Replica::start(&spec, dir.path(), name))
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut clients = Vec::new();
    for replica in &replicas {
        clients.push(replica.client().await?);
    }
    let session = root_session(&mut clients[0]).await?;
    let service = introspect_service_token(&mut clients[0], &session).await?;

    // A history of 60 revocations, then a token every replica holds in its cache.
    for _ in 0..60 {
        let issued = issue(&mut clients[0], &session, 0).await?;
        revoke(&mut clients[0], &session, &issued.token_id).await?;
    }
    let victim = issue(&mut clients[0], &session, 0).await?;
    for client in &mut clients {
        warm(client, &service, &victim.token).await?;
    }

    // The restore: the newest 40 feed rows are gone, the sequence is set back, every session of
    // the replicas is cut (as a restarted PostgreSQL would).
    let head: i64 = sqlx::query_scalar("SELECT max(sequence) FROM revocations")
        .fetch_one(&db.pool)
        .await?;
    sqlx::query("DELETE FROM revocations WHERE sequence > $1")
        .bind(head - 40)
        .execute(&db.pool)
        .await?;
    sqlx::query("SELECT setval('revocations_sequence_seq', $1)")
        .bind(head - 40)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&db.pool)
    .await?;

    // A stream resuming beyond the head is refused, not left waiting for sequences that will
    // never mean what it thinks.
    let mut watcher = clients[1].clone();
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let beyond = async {
            let mut stream = watcher
                .watch_revocations(authed(
                    pb::WatchRevocationsRequest {
                        after_sequence: head as u64,
                        ..Default::default()
                    },
                    &service,
                ))
                .await?
                .into_inner();
            stream.message().await.map(|_| ())
        };
        let refused = tokio::time::timeout(Duration::from_secs(10), beyond).await?;
        let status = refused.expect_err("a resume point beyond the head is refused");
        // The replica's sessions were cut a moment ago: it may still be reconnecting.
        if status.code() != tonic::Code::Unavailable || Instant::now() > until {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");

    // Revoke the cached token (the first call may meet a pool still reconnecting).
    let until = Instant::now() + Duration::from_secs(10);
    let revoked = loop {
        match revoke(&mut clients[0], &session, &victim.token_id).await {
            Ok(revoked) => break revoked,
            Err(status) if Instant::now() < until => {
                eprintln!("revoke after the restore: {status:?}; again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(status.into()),
        }
    };
    assert_eq!(revoked.revoked_count, 1);
    for (client, replica) in clients.iter_mut().zip(&replicas) {
        assert!(
            !answered(client, &service, &victim.token).await?,
            "replica {} admits a token revoked after the feed went backwards",
            replica.addr
        );
    }
    drop(clients);
    drop(replicas);
    db.cleanup().await?;
    Ok(())
}

/// A running `tessera-edge-http` started from this suite.
struct HttpEdge(Started);

impl HttpEdge {
    fn start(tessera: &str, service_token: &str) -> anyhow::Result<HttpEdge> {
        let mut command = std::process::Command::new(binary("tessera-edge-http")?);
        command
            .args(["--listen", "127.0.0.1:0", "--tessera", tessera])
            .args(["--tessera-timeout", "1s"])
            .env("TESSERA_SERVICE_TOKEN", service_token);
        Ok(HttpEdge(Started::spawn(command)?))
    }

    /// The status of a forward-auth check of `token` (0 when no answer came in 3 s).
    async fn verify(&self, token: &str) -> u16 {
        let addr = self.0.listen.clone();
        let request = format!(
            "GET /auth/verify HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await?;
            Ok::<_, std::io::Error>(head)
        };
        match tokio::time::timeout(Duration::from_secs(3), exchange).await {
            // "HTTP/1.1 200"
            Ok(Ok(head)) => String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0),
            _ => 0,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_following_a_frozen_replica_admits_no_revoked_token() -> anyhow::Result<()> {
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await?;
    let dir = tempfile::tempdir()?;
    let spec = ReplicaSpec::new(&db.url);
    let a = Replica::start(&spec, dir.path(), "a")?;
    let followed = Replica::start(&spec, dir.path(), "followed")?;
    let mut on_a = a.client().await?;
    let session = root_session(&mut on_a).await?;
    let service = introspect_service_token(&mut on_a, &session).await?;
    let edge = HttpEdge::start(&format!("http://{}", followed.addr), &service)?;

    let victim = issue(&mut on_a, &session, 0).await?;
    // Admitted, and cached at the edge once its feed holds a lease.
    let until = Instant::now() + Duration::from_secs(10);
    while edge.verify(&victim.token).await != 200 {
        anyhow::ensure!(Instant::now() < until, "the edge never admitted the token");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(edge.verify(&victim.token).await, 200);

    // The replica the edge follows (and calls) freezes: its stream goes silent.
    followed.signal(nix::sys::signal::Signal::SIGSTOP);
    let started = Instant::now();
    let revoked = revoke(&mut on_a, &session, &victim.token_id).await?;
    let took = started.elapsed();
    for _ in 0..5 {
        let status = edge.verify(&victim.token).await;
        assert_ne!(
            status, 200,
            "the edge admitted a revoked token from its cache while its feed was silent"
        );
    }
    // A later Revoke does not wait for the frozen replica again: its lease is over.
    let second = issue(&mut on_a, &session, 0).await?;
    let again = Instant::now();
    let second_revoked = revoke(&mut on_a, &session, &second.token_id).await?;
    let second_took = again.elapsed();
    followed.signal(nix::sys::signal::Signal::SIGCONT);
    eprintln!("Revoke with the followed replica frozen: {took:?}; the next one: {second_took:?}");
    assert!(revoked.everywhere, "{revoked:?}");
    assert!(
        revoked
            .lapsed
            .iter()
            .any(|name| name.contains(&followed.addr)),
        "the frozen replica is named as lapsed: {revoked:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "Revoke waited {took:?} for a frozen follower"
    );
    assert!(
        second_revoked.lapsed.is_empty() && second_revoked.everywhere,
        "a later Revoke waited for the frozen replica again: {second_revoked:?}"
    );
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let status = edge.verify(&victim.token).await;
        assert_ne!(
            status, 200,
            "the edge admitted a revoked token after resuming"
        );
        if status == 401 {
            break;
        }
        anyhow::ensure!(Instant::now() < until, "the edge never answered 401 again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(edge);
    drop((on_a, a, followed));
    db.cleanup().await?;
    Ok(())
}

/// A line-protocol connection to the line edge.
struct Line {
    reader: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Line {
    async fn open(addr: &str) -> anyhow::Result<Line> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        Ok(Line {
            reader: tokio::io::BufReader::new(read),
            writer,
        })
    }

    /// Sends `line` and reads one reply line (empty when the edge closed or said nothing in 3 s).
    async fn ask(&mut self, line: &str) -> String {
        use tokio::io::AsyncBufReadExt;
        if self
            .writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_err()
        {
            return String::new();
        }
        let mut reply = String::new();
        match tokio::time::timeout(Duration::from_secs(3), self.reader.read_line(&mut reply)).await
        {
            Ok(Ok(_)) => reply.trim_end().to_owned(),
            _ => String::new(),
        }
    }
}

/// A process started from this suite, killed when dropped, whose ready file says where it listens.
struct Started {
    child: std::process::Child,
    listen: String,
    _dir: tempfile::TempDir,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Started {
    fn spawn(mut command: std::process::Command) -> anyhow::Result<Started> {
        let dir = tempfile::tempdir()?;
        let ready = dir.path().join("ready.json");
        let log = std::fs::File::create(dir.path().join("log"))?;
        let child = command
            .arg("--ready-file")
            .arg(&ready)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if let Ok(ready) = serde_json::from_str::<serde_json::Value>(&text) {
                    let listen = ready["listen_addr"].as_str().unwrap_or_default().to_owned();
                    return Ok(Started {
                        child,
                        listen,
                        _dir: dir,
                    });
                }
            }
            anyhow::ensure!(Instant::now() < until, "{command:?} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The issue's acceptance run, short: three replicas, the HTTP edge and the line edge, under load;
/// each token revoked is checked on every follower right after its Revoke returned. The full run
/// (`TESSERA_EVERYWHERE_ROUNDS=1000`, with two CPU hogs beside it) is in BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_follower_admits_a_token_once_its_revoke_returned() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("TESSERA_EVERYWHERE_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(25);
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await?;
    let dir = tempfile::tempdir()?;
    let spec = ReplicaSpec::new(&db.url);
    let replicas = ["a", "b", "c"]
        .map(|name| Replica::start(&spec, dir.path(), name))
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut clients = Vec::new();
    for replica in &replicas {
        clients.push(replica.client().await?);
    }
    let session = root_session(&mut clients[0]).await?;
    let service = introspect_service_token(&mut clients[0], &session).await?;
    let everyone = replicas
        .iter()
        .map(|r| format!("http://{}", r.addr))
        .collect::<Vec<_>>()
        .join(",");
    let http = HttpEdge::start(&everyone, &service)?;
    let mut demo = std::process::Command::new(binary("tessera-line-demo")?);
    demo.args(["--listen", "127.0.0.1:0"]);
    let demo = Started::spawn(demo)?;
    let mut line_edge = std::process::Command::new(binary("tessera-edge-line")?);
    line_edge
        .args(["--listen", "127.0.0.1:0", "--tessera", &everyone])
        .args(["--upstream", &demo.listen, "--service-token", &service]);
    let line_edge = Started::spawn(line_edge)?;

    // Load beside the checks: cached Introspects on every replica and forward-auth at the edge.
    let steady = issue(&mut clients[0], &session, 0).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (mut client, service, token, stop) = (
            clients[worker % 3].clone(),
            service.clone(),
            steady.token.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                admits(&mut client, &service, &token, Duration::from_secs(2)).await;
            }
        }));
    }

    let mut admitted = Vec::new();
    let mut took = Vec::new();
    let mut lapsed = 0;
    for round in 0..rounds {
        let victim = issue(&mut clients[round % 3], &session, 0).await?;
        let single = issue(&mut clients[round % 3], &session, 1).await?;
        for client in &mut clients {
            warm(client, &service, &victim.token).await?;
        }
        anyhow::ensure!(http.verify(&victim.token).await == 200, "edge refused");
        anyhow::ensure!(http.verify(&victim.token).await == 200, "edge refused");
        let mut held = Line::open(&line_edge.listen).await?;
        anyhow::ensure!(held.ask(&format!("AUTH {}", victim.token)).await == "OK");
        // A single-use token's connection: its use is spent at AUTH, so the edge judges the
        // connection's later commands from the feed alone.
        let mut spent = Line::open(&line_edge.listen).await?;
        anyhow::ensure!(spent.ask(&format!("AUTH {}", single.token)).await == "OK");

        let started = Instant::now();
        let revoked = clients[(round + 1) % 3]
            .revoke(authed(
                pb::RevokeRequest {
                    target: Some(pb::revoke_request::Target::TokenIds(pb::TokenIds {
                        ids: vec![victim.token_id.clone(), single.token_id.clone()],
                    })),
                    reason: "everywhere under load".into(),
                    ..Default::default()
                },
                &session,
            ))
            .await?
            .into_inner();
        took.push(started.elapsed());
        anyhow::ensure!(
            revoked.revoked_count == 2 && revoked.everywhere,
            "{revoked:?}"
        );
        lapsed += revoked.lapsed.len();

        for (client, replica) in clients.iter_mut().zip(&replicas) {
            if admits(client, &service, &victim.token, Duration::from_secs(2)).await == Some(true) {
                admitted.push(format!("round {round}: replica {}", replica.addr));
            }
        }
        if http.verify(&victim.token).await == 200 {
            admitted.push(format!("round {round}: HTTP edge"));
        }
        for (name, connection) in [("held", &mut held), ("spent", &mut spent)] {
            let reply = connection
                .ask("7 SET deploy.daily 2030-03-30 02:00:00")
                .await;
            if !reply.is_empty() && !reply.contains("auth_failed") {
                admitted.push(format!(
                    "round {round}: line edge, {name} connection: {reply}"
                ));
            }
        }
        let mut fresh = Line::open(&line_edge.listen).await?;
        let reply = fresh.ask(&format!("AUTH {}", victim.token)).await;
        if reply == "OK" {
            admitted.push(format!("round {round}: line edge, new connection"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await?;
    }
    took.sort();
    eprintln!(
        "{rounds} revocations checked on 3 replicas, the HTTP edge and the line edge: {} admissions after Revoke returned; Revoke p50 {:?}, p99 {:?}, max {:?}; {lapsed} followers lapsed",
        admitted.len(),
        took[took.len() / 2],
        took[took.len() * 99 / 100],
        took[took.len() - 1],
    );
    assert!(
        admitted.is_empty(),
        "admitted after Revoke returned: {admitted:#?}"
    );
    drop((http, line_edge, demo));
    drop(clients);
    drop(replicas);
    db.cleanup().await?;
    Ok(())
}
