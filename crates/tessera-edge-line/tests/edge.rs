//! End-to-end: the real edge binary over real TCP, the real Tessera (`tessera dev`) over real
//! gRPC, and the ztick model (`tessera_edge_line::demo`) as the upstream, in ztick's syntax.

#[path = "edge/bypass.rs"]
mod bypass;
#[path = "edge/routing.rs"]
mod routing;

mod support;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_line_closes_the_connection_without_buffering_it() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &["--max-line", "128"]).await;
    let token = issue("deploy.", 0).await.token;

    let mut before_auth = LineClient::connect(shim.addr).await;
    before_auth.send(&format!("AUTH {}", "x".repeat(200))).await;
    assert_eq!(
        before_auth.recv().await.as_deref(),
        Some("ERROR line_too_long")
    );
    assert!(before_auth.expect_closed().await.is_empty());

    let mut client = LineClient::authed(shim.addr, &token).await;
    assert_eq!(
        client
            .call(&format!("1 SET deploy.a {}", "v".repeat(100)))
            .await,
        "1 OK"
    );
    client
        .send(&format!("2 SET deploy.b {}", "v".repeat(200)))
        .await;
    assert_eq!(client.recv().await.as_deref(), Some("ERROR line_too_long"));
    assert!(client.expect_closed().await.is_empty());
    assert!(!upstream.received_containing("deploy.b"));

    // An endless line: the edge closes after the limit instead of swallowing the flood.
    let stream = tokio::net::TcpStream::connect(shim.addr)
        .await
        .expect("connect");
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("AUTH {token}\n").as_bytes())
        .await
        .expect("auth");
    let flood = tokio::spawn(async move {
        let chunk = vec![b'y'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 256 * 1024 * 1024 {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut reader = BufReader::new(read);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        match tokio::time::timeout(REPLY_DEADLINE, reader.read_line(&mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => lines.push(line.trim_end().to_owned()),
            Err(_) => panic!("the edge kept reading the flood"),
        }
    }
    assert_eq!(lines, ["OK", "ERROR line_too_long"]);
    let sent = tokio::time::timeout(REPLY_DEADLINE, flood)
        .await
        .expect("flood stopped")
        .expect("flood");
    assert!(
        sent < 32 * 1024 * 1024,
        "the edge accepted {sent} bytes of one line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_connections() {
    const CLIENTS: usize = 200;
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let token = issue("deploy.", 0).await.token;
    let all_open = std::sync::Arc::new(tokio::sync::Barrier::new(CLIENTS + 1));
    let release = std::sync::Arc::new(tokio::sync::Barrier::new(CLIENTS + 1));
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..CLIENTS {
        let (token, all_open, release, addr) =
            (token.clone(), all_open.clone(), release.clone(), shim.addr);
        clients.spawn(async move {
            let mut client = LineClient::authed(addr, &token).await;
            assert_eq!(
                client.call(&format!("{n} SET deploy.c{n} {n}")).await,
                format!("{n} OK")
            );
            all_open.wait().await;
            release.wait().await;
            assert_eq!(
                client.call(&format!("{n} GET deploy.c{n}")).await,
                format!("{n} OK planned {n}")
            );
            assert_eq!(
                client.call(&format!("{n} GET backup.c{n}")).await,
                denied(&n.to_string())
            );
        });
    }
    tokio::time::timeout(Duration::from_secs(120), all_open.wait())
        .await
        .expect("200 clients connected and authenticated");
    assert_eq!(
        upstream.state.connections(),
        CLIENTS,
        "one upstream link per client"
    );
    release.wait().await;
    while let Some(result) = clients.join_next().await {
        result.expect("client");
    }
    let mut check = LineClient::authed(shim.addr, &token).await;
    let items = check.list("q QUERY deploy.c").await;
    assert_eq!(items.len(), CLIENTS + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_restarting_gives_errors_then_service_again() {
    let mut upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &["--upstream-timeout", "2s"]).await;
    let token = issue("deploy.", 0).await.token;
    let mut client = LineClient::authed(shim.addr, &token).await;
    assert_eq!(client.call("1 SET deploy.a x").await, "1 OK");

    upstream.stop().await;
    let asked = Instant::now();
    assert_eq!(
        client.call("2 GET deploy.a").await,
        "2 ERROR upstream unavailable"
    );
    assert_eq!(client.call("3 QUERY").await, "3 ERROR upstream unavailable");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "an upstream that is down must not hang"
    );

    upstream.restart().await;
    assert_eq!(client.call("4 GET deploy.a").await, "4 OK planned 0");
    assert_eq!(
        client.list("5 QUERY").await,
        ["5 deploy.a planned 0", "5 OK"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_from_the_start_answers_an_error() {
    let vacant = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = vacant.local_addr().expect("addr").to_string();
    drop(vacant);
    let shim = Shim::start(&address, &["--upstream-timeout", "2s"]).await;
    let mut client = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    assert_eq!(
        client.call("1 GET deploy.a").await,
        "1 ERROR upstream unavailable"
    );
    assert_eq!(client.call("2 GET backup.a").await, denied("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commands_are_refused_unless_the_rules_forward_them() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let mut client = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    assert_eq!(
        client.call("1 FROB deploy.a").await,
        "1 ERROR unknown_command"
    );
    assert!(!upstream.received_containing("FROB"));
    // AUTH on an open connection carries a secret: never forwarded.
    assert_eq!(
        client.call("AUTH tsr_api_whatever").await,
        "ERROR already_authenticated"
    );
    assert!(!upstream.received_containing("AUTH"));

    // `unknown = "forward"`: re-serialised, forwarded, and never awaited (ztick is silent).
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "unknown = \"forward\"\n[[command]]\nname = \"GET\"\nidentifiers = [1]\n",
    )
    .expect("write rules");
    let forwarding = Shim::start(
        &upstream.address(),
        &[
            "--rules",
            rules.to_str().expect("path"),
            "--upstream-timeout",
            "10s",
        ],
    )
    .await;
    let mut client = LineClient::authed(forwarding.addr, &issue("deploy.", 0).await.token).await;
    let asked = Instant::now();
    client.send("1 FROB \"deploy.a b\"").await;
    assert_eq!(client.call("2 GET deploy.a").await, "2 ERROR");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "the edge waited for a reply to FROB"
    );
    assert!(upstream.received_containing("FROB \"deploy.a b\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_replies_come_back_in_command_order() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &[]).await;
    let mut client = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    let mut batch = String::new();
    let mut expected = Vec::new();
    for n in 0..40 {
        let (line, reply) = match n % 4 {
            0 => (format!("{n} SET deploy.p{n} v"), format!("{n} OK")),
            1 => (format!("{n} GET backup.p{n}"), denied(&n.to_string())),
            2 => (
                format!("{n} GET deploy.p{}", n - 2),
                format!("{n} OK planned 0"),
            ),
            _ => (
                format!("{n} get deploy.p{}", n - 3),
                format!("{n} ERROR unknown_command commands are case-sensitive, did you mean GET"),
            ),
        };
        batch.push_str(&line);
        batch.push('\n');
        if !reply.is_empty() {
            expected.push(reply);
        }
    }
    client.send_raw(batch.as_bytes()).await.expect("send");
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(client.recv().await.expect("reply"));
    }
    assert_eq!(got, expected);
}

/// Arbitrary bytes between real commands never panic the edge, never close the connection and
/// never shift a reply onto the wrong command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_lines_never_desynchronise_the_relay() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let mut shim = Shim::start(
        &upstream.address(),
        &["--max-line", "512", "--upstream-timeout", "5s"],
    )
    .await;
    let everything = issue("*", 0).await.token;
    let mut client = LineClient::authed(shim.addr, &everything).await;
    assert_eq!(client.call("s SET deploy.probe-7f3a 7").await, "s OK");

    let vocabulary: [&[u8]; 14] = [
        b"SET",
        b"GET",
        b"QUERY",
        b"RULE",
        b"LISTRULES",
        b"STAT",
        b"AUTH",
        b"deploy.",
        b"backup.x",
        b" ",
        b"\t",
        b"\r",
        b"\xff\xfe",
        b"\x00",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let mut garbage = Vec::new();
        for _ in 0..(next() % 12) {
            if next() % 2 == 0 {
                garbage.extend_from_slice(vocabulary[(next() % vocabulary.len() as u64) as usize]);
            } else {
                garbage.push((next() % 256) as u8);
            }
        }
        garbage.retain(|&b| b != b'\n');
        garbage.push(b'\n');
        let probe = format!("p{round} GET deploy.probe-7f3a\n");
        garbage.extend_from_slice(probe.as_bytes());
        client.send_raw(&garbage).await.expect("connection open");
        let asked = Instant::now();
        loop {
            let line = client
                .recv()
                .await
                .unwrap_or_else(|| panic!("closed after garbage {garbage:?}"));
            if line == format!("p{round} OK planned 7") {
                break;
            }
            let id = line.split_whitespace().next().unwrap_or("");
            let is_probe =
                id.len() > 1 && id.starts_with('p') && id[1..].bytes().all(|b| b.is_ascii_digit());
            assert!(
                !is_probe,
                "probe reply out of step: {line:?} in round {round}"
            );
        }
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "round {round} stalled on {garbage:?}"
        );
    }
    assert!(shim.is_running(), "edge died:\n{}", shim.log());
    assert!(!shim.log().contains("panicked"), "{}", shim.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_refuses_extra_clients() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &["--max-connections", "2"]).await;
    let token = issue("deploy.", 0).await.token;
    let first = LineClient::authed(shim.addr, &token).await;
    let _second = LineClient::authed(shim.addr, &token).await;
    let mut third = LineClient::connect(shim.addr).await;
    assert_eq!(
        third.recv().await.as_deref(),
        Some("ERROR busy too many connections")
    );
    assert!(third.expect_closed().await.is_empty());
    drop(first);
    // The slot frees once the edge has seen the first client leave.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = LineClient::connect(shim.addr).await;
        client.send(&format!("AUTH {token}")).await;
        match client.recv().await.as_deref() {
            Some("OK") => break,
            other => assert!(Instant::now() < deadline, "no slot freed: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_is_closed() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &["--idle-timeout", "1s"]).await;
    let mut client = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    let started = Instant::now();
    assert_eq!(client.recv().await.as_deref(), Some("ERROR idle_timeout"));
    assert!(client.expect_closed().await.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_are_served_and_plaintext_ones_dropped() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let cert = TestCert::new();
    let shim = Shim::start(
        &upstream.address(),
        &["--tls-cert", cert.cert_arg(), "--tls-key", cert.key_arg()],
    )
    .await;
    let token = issue("deploy.", 0).await.token;

    let mut plain = LineClient::connect(shim.addr).await;
    plain.send(&format!("AUTH {token}")).await;
    let said = plain.expect_closed().await;
    assert!(
        !said.iter().any(|l| l == "OK"),
        "a plaintext client was served: {said:?}"
    );

    let mut secure = LineClient::over(cert.connect(shim.addr).await.expect("tls connect"));
    assert_eq!(secure.call(&format!("AUTH {token}")).await, "OK");
    assert_eq!(secure.call("1 SET deploy.tls 9").await, "1 OK");
    assert_eq!(secure.call("2 GET deploy.tls").await, "2 OK planned 9");
    assert_eq!(secure.call("3 GET backup.tls").await, denied("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_can_require_tls_and_its_own_auth() {
    let cert = TestCert::new();
    let options = DemoOptions {
        auth: Some("upstream-secret".to_owned()),
        tls: Some(tessera_edge_line::tls::server_config(&cert.cert, &cert.key).expect("tls")),
    };
    let upstream = Upstream::start(options).await;
    let tls_args = [
        "--upstream-tls",
        "--upstream-ca",
        cert.cert_arg(),
        "--upstream-server-name",
        "localhost",
    ];
    let token = issue("deploy.", 0).await.token;

    let mut args = tls_args.to_vec();
    args.extend(["--upstream-auth", "upstream-secret"]);
    let shim = Shim::start(&upstream.address(), &args).await;
    let mut client = LineClient::authed(shim.addr, &token).await;
    assert_eq!(client.call("1 SET deploy.u x").await, "1 OK");
    assert_eq!(client.call("2 GET deploy.u").await, "2 OK planned 0");

    let mut args = tls_args.to_vec();
    args.extend(["--upstream-auth", "wrong"]);
    let wrong = Shim::start(&upstream.address(), &args).await;
    let mut client = LineClient::authed(wrong.addr, &token).await;
    assert_eq!(
        client.call("1 GET deploy.u").await,
        "1 ERROR upstream unavailable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_to_start_with_an_unfit_service_token() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let address = upstream.address();
    let refused =
        |log: String, why: &str| assert!(log.contains(why), "expected {why:?} in:\n{log}");

    let admin = Shim::try_start(&tessera().admin_token, &address, &[]).await;
    refused(admin.err().expect("admin token refused"), "admin rights");

    let no_introspect = issue_with(pb::IssueTokenRequest {
        namespace: "*".to_owned(),
        permissions: vec!["issue".to_owned()],
        ttl: "1h".to_owned(),
        ..Default::default()
    })
    .await;
    let result = Shim::try_start(&no_introspect.token, &address, &[]).await;
    refused(
        result.err().expect("token without introspect refused"),
        "introspect",
    );

    // Tessera out of reach: the edge cannot vet its token, so it does not start.
    let vacant = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = vacant.local_addr().expect("addr").to_string();
    drop(vacant);
    let result = Shim::try_start_via(
        &nowhere,
        &tessera().service_token,
        &address,
        &["--tessera-timeout", "2s"],
    )
    .await;
    refused(
        result.err().expect("unreachable tessera refused"),
        "cannot check the service token",
    );

    let forged = format!("tsr_svc_{}", "B".repeat(49));
    let result = Shim::try_start(&forged, &address, &[]).await;
    refused(result.err().expect("forged token refused"), "not active");

    let service = issue_with(pb::IssueTokenRequest {
        namespace: "*".to_owned(),
        permissions: vec!["introspect".to_owned()],
        ttl: "1h".to_owned(),
        token_type: pb::TokenType::Service as i32,
        ..Default::default()
    })
    .await;
    let fit = Shim::try_start(&service.token, &address, &[]).await;
    assert!(
        fit.is_ok(),
        "an introspect-only service token must be accepted: {:?}",
        fit.err()
    );
    revoke(&service.token_id).await;
    let result = Shim::try_start(&service.token, &address, &[]).await;
    refused(result.err().expect("revoked token refused"), "not active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_unavailable_fails_closed_and_recovers() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let proxy = CutProxy::start(tessera().grpc_addr.clone()).await;
    let shim = Shim::try_start_via(
        &proxy.addr.to_string(),
        &tessera().service_token,
        &upstream.address(),
        &["--tessera-timeout", "2s"],
    )
    .await
    .expect("edge starts through the proxy");
    let token = issue("deploy.", 0).await.token;
    let mut client = LineClient::authed(shim.addr, &token).await;
    assert_eq!(client.call("1 SET deploy.a x").await, "1 OK");

    proxy.cut();
    assert_eq!(
        client.call("2 GET deploy.a").await,
        "2 ERROR auth_unavailable auth service unavailable"
    );
    let mut newcomer = LineClient::connect(shim.addr).await;
    newcomer.send(&format!("AUTH {token}")).await;
    assert_eq!(
        newcomer.recv().await.as_deref(),
        Some("ERROR auth_unavailable auth service unavailable")
    );
    assert!(newcomer.expect_closed().await.is_empty());
    assert!(
        !upstream.received_containing("GET deploy.a"),
        "forwarded without a decision"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 3;
    loop {
        let reply = client.call(&format!("{n} GET deploy.a")).await;
        if reply == format!("{n} OK planned 0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tessera never came back: {reply}"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_file_changes_the_grammar() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[[command]]\nname = \"GET\"\nidentifiers = [1]\n")
        .expect("write rules");
    let shim = Shim::start(
        &upstream.address(),
        &["--rules", rules.to_str().expect("path")],
    )
    .await;
    let mut client = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    assert_eq!(
        client.call("1 SET deploy.a x").await,
        "1 ERROR unknown_command"
    );
    assert_eq!(client.call("2 GET deploy.a").await, "2 ERROR");
    assert_eq!(client.call("3 GET backup.a").await, denied("3"));

    std::fs::write(&rules, "[[command]]\nname = \"GET\"\nidentifiers = [0]\n")
        .expect("write rules");
    let refused = Shim::try_start(
        &tessera().service_token,
        &upstream.address(),
        &["--rules", rules.to_str().unwrap()],
    )
    .await
    .err()
    .expect("invalid rules refused");
    assert!(
        refused.contains("rules.toml") && refused.contains("count from 1"),
        "{refused}"
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
