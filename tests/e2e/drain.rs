//! SIGTERM drains a replica: health turns NOT_SERVING, WatchRevocations streams end with
//! UNAVAILABLE (reconnect elsewhere), calls already in flight still get their answers, and the
//! process exits by itself well within `--shutdown-grace`.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tessera_harness::{
    authed,
    cluster::{introspect_service_token, Replica, ReplicaSpec, ROOT_PASSWORD},
};
use tessera_proto::v1 as pb;
use tessera_store::testing::TestDatabase;
use tonic::transport::Channel;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

const GRACE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_order_and_finishes_in_flight_calls() -> anyhow::Result<()> {
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await?;
    let dir = tempfile::tempdir()?;
    // One password-hashing worker: a burst of logins queues, so some are still running when
    // SIGTERM arrives.
    let spec = ReplicaSpec::new(&db.url).args([
        "--shutdown-grace",
        "30s",
        "--hash-workers",
        "1",
        // Concurrent logins of one account each hold an attempt until verified.
        "--max-failed-logins",
        "100",
    ]);
    let mut replica = Replica::start(&spec, dir.path(), "a")?;
    let channel = Channel::from_shared(format!("http://{}", replica.addr))?
        .connect()
        .await?;
    let mut client = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let login = pb::LoginRequest {
        username: "root".into(),
        password: ROOT_PASSWORD.into(),
        totp_code: String::new(),
    };
    let session = client.login(login.clone()).await?.into_inner().token;
    let service = introspect_service_token(&mut client, &session).await?;

    let mut health = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: "tessera.v1.AuthService".into(),
        })
        .await?
        .into_inner();
    let first = health.message().await?.expect("a first health status");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let mut revocations = client
        .watch_revocations(authed(
            pb::WatchRevocationsRequest {
                after_sequence: 0,
                ..Default::default()
            },
            &service,
        ))
        .await?
        .into_inner();

    // A burst of logins (argon2 on one worker: tens to hundreds of milliseconds each).
    let logins: Vec<_> = (0..10)
        .map(|_| {
            let mut client = client.clone();
            let login = login.clone();
            tokio::spawn(async move {
                let answer = client.login(login).await;
                (answer, Instant::now())
            })
        })
        .collect();
    // Let the burst reach the server (loopback: well under this).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    replica.signal(nix::sys::signal::Signal::SIGTERM);

    // Health first: NOT_SERVING on the open Watch.
    let next = tokio::time::timeout(Duration::from_secs(10), health.message())
        .await?
        .map_err(|status| anyhow::anyhow!("health watch failed instead of NOT_SERVING: {status}"))?
        .expect("a health update");
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(health);

    // The revocation stream ends with UNAVAILABLE telling the watcher to go elsewhere.
    let ended = tokio::time::timeout(Duration::from_secs(10), revocations.next())
        .await?
        .expect("the stream yields its end");
    let status = ended.expect_err("the stream ends with a status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("another replica"), "{status:?}");
    let stream_end = signalled.elapsed();

    // Every login in flight at SIGTERM still gets its answer.
    let mut after_signal = 0;
    for login in logins {
        let (answer, at) = login.await?;
        let answer = answer.map_err(|s| anyhow::anyhow!("an in-flight login failed: {s:?}"))?;
        assert!(answer.into_inner().token.starts_with("tsr_"));
        if at > signalled {
            after_signal += 1;
        }
    }
    assert!(
        after_signal > 0,
        "no login was still in flight at SIGTERM; the test proved nothing"
    );
    drop((client, revocations, channel));

    // And the process leaves by itself, long before the grace period is over.
    let status = replica.wait_exit(GRACE - Duration::from_secs(5))?;
    let exit = signalled.elapsed();
    assert!(status.success(), "{status}\n{}", replica.log());
    let log = replica.log();
    assert!(log.contains("drained; every call finished"), "{log}");
    eprintln!(
        "drain: stream ended {stream_end:?} after SIGTERM, {after_signal} logins finished after it, exit after {exit:?}"
    );
    db.cleanup().await?;
    Ok(())
}
