//! End-to-end: the real edge binary over real TCP, the real Tessera (`tessera dev`) over real
//! gRPC, and the ztick model (`tessera_edge_line::demo`) as the upstream, in ztick's syntax; and
//! the differential test of the edge's grammar against ztick's (`differential`). One test binary
//! for the crate's integration tests: linking is the slow part of a build on a small machine.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod bypass;
mod differential;
mod limits;
mod operations;
mod routing;
mod support;
mod upstream;

use std::time::{Duration, Instant};

use support::*;
use tessera_edge_line::demo::DemoOptions;
use tessera_proto::v1 as pb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// `2030-03-30 02:00:00` in ztick's nanoseconds.
const DAILY: &str = "1901066400000000000";

fn denied(id: &str) -> String {
    format!("{id} ERROR auth_denied insufficient namespace scope")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_token_sees_and_touches_only_deploy() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let everything = issue("*", 0).await;
    let deploy = issue("deploy.", 0).await;

    let mut root = LineClient::authed(shim.addr, &everything.token).await;
    assert_eq!(
        root.call("1 SET backup.nightly 1700000000000000000").await,
        "1 OK"
    );
    assert_eq!(
        root.call("2 RULE SET backup.r1 backup. shell /srv/backup.sh")
            .await,
        "2 OK"
    );

    let mut client = LineClient::authed(shim.addr, &deploy.token).await;
    assert_eq!(
        client.call("1 SET deploy.daily 2030-03-30 02:00:00").await,
        "1 OK"
    );
    assert_eq!(
        client.call("2 GET deploy.daily").await,
        format!("2 OK planned {DAILY}")
    );
    assert_eq!(
        client.list("3 QUERY deploy.").await,
        [format!("3 deploy.daily planned {DAILY}"), "3 OK".into()]
    );
    // QUERY with no prefix returns only what the namespace covers.
    assert_eq!(
        client.list("4 QUERY").await,
        [format!("4 deploy.daily planned {DAILY}"), "4 OK".into()]
    );
    assert_eq!(client.list("5 QUERY backup.").await, ["5 OK"]);
    assert_eq!(client.call("6 GET backup.nightly").await, denied("6"));
    assert_eq!(client.call("7 SET backup.evil 1").await, denied("7"));
    assert_eq!(client.call("8 REMOVE backup.nightly").await, denied("8"));
    assert_eq!(
        client.call("9 GET deploy").await,
        denied("9"),
        "`deploy` is not inside `deploy.`"
    );
    // RULE SET checks both the rule id and the pattern.
    assert_eq!(
        client
            .call("10 RULE SET deploy.r2 deploy. shell /srv/ship.sh")
            .await,
        "10 OK"
    );
    assert_eq!(
        client
            .call("11 RULE SET deploy.r3 backup. shell /bin/true")
            .await,
        denied("11")
    );
    assert_eq!(
        client
            .call("12 RULE SET backup.r4 deploy. shell /bin/true")
            .await,
        denied("12")
    );
    assert_eq!(
        client.list("13 LISTRULES").await,
        ["13 deploy.r2 deploy. shell /srv/ship.sh", "13 OK"]
    );
    assert_eq!(client.call("14 REMOVERULE backup.r1").await, denied("14"));
    // STAT needs only a valid token and is not filtered.
    let stat = client.list("15 STAT").await;
    assert!(stat.contains(&"15 jobs_total 2".to_owned()), "{stat:?}");
    assert_eq!(stat.last().map(String::as_str), Some("15 OK"));
    // Denials leave the connection open.
    assert_eq!(
        client.call("16 GET deploy.daily").await,
        format!("16 OK planned {DAILY}")
    );
    // An item whose id Tessera would refuse to judge (over 512 bytes) is left out, not the list.
    upstream
        .state
        .respond(&format!("x SET deploy.{} 1", "z".repeat(600)));
    assert_eq!(
        client.list("17 QUERY deploy.").await,
        [format!("17 deploy.daily planned {DAILY}"), "17 OK".into()]
    );

    // A `*` token sees everything.
    assert_eq!(
        root.list("3 QUERY").await,
        [
            "3 backup.nightly planned 1700000000000000000".to_owned(),
            format!("3 deploy.daily planned {DAILY}"),
            "3 OK".into()
        ]
    );
    assert_eq!(
        root.list("4 LISTRULES").await,
        [
            "4 backup.r1 backup. shell /srv/backup.sh",
            "4 deploy.r2 deploy. shell /srv/ship.sh",
            "4 OK"
        ]
    );

    // Refused commands never reached the upstream.
    for word in [
        "backup.evil",
        "backup.r4",
        "deploy.r3",
        "REMOVE backup.nightly",
        "REMOVERULE",
    ] {
        assert!(!upstream.received_containing(word), "{word} was forwarded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_line_must_be_auth() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let mut client = LineClient::connect(shim.addr).await;
    client.send("1 SET deploy.a x").await;
    assert_eq!(client.recv().await.as_deref(), Some("ERROR auth_required"));
    assert!(client.expect_closed().await.is_empty());
    assert!(!upstream.received_containing("deploy.a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_auth_failed() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let forged = format!("tsr_api_{}", "A".repeat(49));
    for line in [
        format!("AUTH {forged}"),
        "AUTH not-a-token".to_owned(),
        "AUTH".to_owned(),
    ] {
        let mut client = LineClient::connect(shim.addr).await;
        client.send(&line).await;
        assert_eq!(
            client.recv().await.as_deref(),
            Some("ERROR auth_failed"),
            "{line}"
        );
        assert!(client.expect_closed().await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_at_the_auth_timeout() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &["--auth-timeout", "1s"]).await;
    let started = Instant::now();
    let mut client = LineClient::connect(shim.addr).await;
    assert_eq!(client.recv().await.as_deref(), Some("ERROR auth_timeout"));
    assert!(client.expect_closed().await.is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "closed late: {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowly_dripped_auth_is_closed_at_the_timeout() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &["--auth-timeout", "1s"]).await;
    let token = issue("deploy.", 0).await.token;
    let stream = tokio::net::TcpStream::connect(shim.addr)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (read, mut write) = stream.into_split();
    let started = Instant::now();
    // One byte every 100 ms: the whole line would take several seconds, far past the timeout.
    let drip = tokio::spawn(async move {
        for byte in format!("AUTH {token}\n").bytes() {
            if write.write_all(&[byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    });
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    tokio::time::timeout(REPLY_DEADLINE, reader.read_line(&mut line))
        .await
        .expect("reply in time")
        .expect("read");
    assert_eq!(line.trim_end(), "ERROR auth_timeout");
    line.clear();
    let eof = tokio::time::timeout(REPLY_DEADLINE, reader.read_line(&mut line))
        .await
        .expect("eof in time");
    assert!(matches!(eof, Ok(0) | Err(_)), "still open: {line:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(
        !drip.is_finished(),
        "the drip finished before the edge closed"
    );
    drip.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_mid_connection_is_refused_on_its_next_command() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let issued = issue("deploy.", 0).await;
    let mut client = LineClient::authed(shim.addr, &issued.token).await;
    assert_eq!(client.call("1 SET deploy.a x").await, "1 OK");
    revoke(&issued.token_id).await;
    client.send("2 GET deploy.a").await;
    assert_eq!(client.recv().await.as_deref(), Some("2 ERROR auth_failed"));
    assert!(client.expect_closed().await.is_empty());
    assert!(!upstream.received_containing("GET deploy.a"));

    let mut again = LineClient::connect(shim.addr).await;
    again.send(&format!("AUTH {}", issued.token)).await;
    assert_eq!(again.recv().await.as_deref(), Some("ERROR auth_failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_token_opens_one_connection_only() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let once = issue("deploy.", 1).await;
    let mut first = LineClient::authed(shim.addr, &once.token).await;
    let mut second = LineClient::connect(shim.addr).await;
    second.send(&format!("AUTH {}", once.token)).await;
    assert_eq!(second.recv().await.as_deref(), Some("ERROR auth_failed"));
    assert!(second.expect_closed().await.is_empty());
    // The connection that used it keeps working: checks do not consume uses.
    assert_eq!(first.call("1 SET deploy.once x").await, "1 OK");
    assert_eq!(first.call("2 GET deploy.once").await, "2 OK planned 0");
}

/// Sends `GET <id>` until the edge answers `auth_failed` and closes; every earlier answer must be
/// the job's value. The revocation of a token whose uses are spent reaches the edge through the
/// revocation feed, so it may take a moment.
async fn until_refused(client: &mut LineClient, id: &str, value: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        let reply = client.call(&format!("r{n} GET {id}")).await;
        if reply == format!("r{n} ERROR auth_failed") {
            assert!(client.expect_closed().await.is_empty());
            return n;
        }
        assert_eq!(reply, format!("r{n} OK {value}"));
        assert!(
            Instant::now() < deadline,
            "the revocation was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    unreachable!()
}

/// AUTH spends one use. Spending the last one does not end the connections already open (Tessera
/// calls the token inactive from then on, so the edge judges them from what it learnt at AUTH),
/// but a revocation still does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_use_tokens_keep_their_connections_after_the_last_use() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let mut root = LineClient::authed(shim.addr, &issue("*", 0).await.token).await;
    assert_eq!(root.call("1 SET backup.l x").await, "1 OK");
    assert_eq!(
        root.call("2 RULE SET backup.lr backup. shell /bin/true")
            .await,
        "2 OK"
    );

    let twice = issue("deploy.", 2).await;
    let mut first = LineClient::authed(shim.addr, &twice.token).await;
    let mut second = LineClient::authed(shim.addr, &twice.token).await;
    let mut third = LineClient::connect(shim.addr).await;
    third.send(&format!("AUTH {}", twice.token)).await;
    assert_eq!(third.recv().await.as_deref(), Some("ERROR auth_failed"));
    assert!(third.expect_closed().await.is_empty());

    // Both connections keep their rights, and only those.
    assert_eq!(first.call("1 SET deploy.l v").await, "1 OK");
    assert_eq!(second.call("1 GET deploy.l").await, "1 OK planned 0");
    assert_eq!(first.call("2 GET backup.l").await, denied("2"));
    assert_eq!(
        first.call("3 RULE SET deploy.lr backup. shell x").await,
        denied("3")
    );
    assert_eq!(
        first.call("4 RULE SET deploy.lr deploy. shell x").await,
        "4 OK"
    );
    assert_eq!(
        second.list("2 QUERY").await,
        ["2 deploy.l planned 0", "2 OK"]
    );
    assert_eq!(
        second.list("3 LISTRULES").await,
        ["3 deploy.lr deploy. shell x", "3 OK"]
    );
    assert!(!upstream.received_containing("backup. shell x"));

    // Revoked: each connection is refused and closed.
    revoke(&twice.token_id).await;
    let late = until_refused(&mut first, "deploy.l", "planned 0").await;
    until_refused(&mut second, "deploy.l", "planned 0").await;
    assert!(late <= 3, "the revocation took {late} commands to arrive");
}

/// An expired token is refused at AUTH, and a connection whose token expires is closed on its
/// next command, whether the token is limited-use (judged by the edge) or not (by Tessera).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let short = |max_uses| {
        issue_with(pb::IssueTokenRequest {
            namespace: "deploy.".to_owned(),
            max_uses,
            ttl: "2s".to_owned(),
            ..Default::default()
        })
    };
    let issued = Instant::now();
    let once = short(1).await;
    let unlimited = short(0).await;
    let mut spent = LineClient::authed(shim.addr, &once.token).await;
    let mut plain = LineClient::authed(shim.addr, &unlimited.token).await;
    assert_eq!(spent.call("1 SET deploy.x v").await, "1 OK");
    assert_eq!(plain.call("1 GET deploy.x").await, "1 OK planned 0");

    tokio::time::sleep(
        (issued + Duration::from_millis(2500)).saturating_duration_since(Instant::now()),
    )
    .await;
    for client in [&mut spent, &mut plain] {
        assert_eq!(client.call("2 GET deploy.x").await, "2 ERROR auth_failed");
        assert!(client.expect_closed().await.is_empty());
    }
    let mut late = LineClient::connect(shim.addr).await;
    late.send(&format!("AUTH {}", unlimited.token)).await;
    assert_eq!(late.recv().await.as_deref(), Some("ERROR auth_failed"));
    assert_eq!(
        upstream.received_count("GET deploy.x"),
        1,
        "only the first GET was forwarded"
    );
}

/// The same walkthrough from Python's standard socket module, as a user's script would do it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_socket_client_runs_the_walkthrough() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let deploy = issue("deploy.", 0).await.token;
    let everything = issue("*", 0).await.token;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/line_client.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(shim.addr.to_string())
        .arg(&deploy)
        .arg(&everything)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("python finished")
        .expect("python3 runs (it is required for this test)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("walkthrough ok"), "{stdout}");
}
