//! The upstream link: restarts, outages, TLS and its own AUTH, pipelining, garbage between commands.

use std::time::{Duration, Instant};

use crate::denied;
use crate::support::*;
use tessera_edge_line::demo::DemoOptions;

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
async fn the_upstream_can_require_tls_and_its_own_auth() {
    let cert = TestCert::new();
    let options = DemoOptions {
        auth: Some("upstream-secret".to_owned()),
        tls: Some(
            tessera_process::tls::Serving::load(
                &cert.cert,
                &cert.key,
                std::time::Duration::from_secs(10),
                &[],
            )
            .expect("tls")
            .config,
        ),
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
