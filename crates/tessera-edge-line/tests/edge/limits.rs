//! Limits: line length, connection count, idle time, many clients at once.

use std::time::{Duration, Instant};

use crate::denied;
use crate::support::*;
use tessera_edge_line::demo::DemoOptions;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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

/// Clients that connect and never send AUTH, all from one address, hold at most
/// `--max-unauthenticated-per-source` slots: the rest are refused at once, and a client from
/// another address still gets in and authenticates. (Before the cap, the silent ones took every
/// slot until their AUTH deadline and everyone else met `ERROR busy`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_from_one_source_cannot_take_every_slot() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(
        &upstream.address(),
        &[
            "--max-connections",
            "32",
            "--max-unauthenticated-per-source",
            "8",
            "--auth-timeout",
            "20s",
        ],
    )
    .await;
    let token = issue("deploy.", 0).await.token;
    let port = shim.addr.port();
    let mut silent = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        // Another loopback address: the flood's own source.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind 127.0.0.2");
        let mut stream = socket
            .connect(shim.addr)
            .await
            .expect("connect from 127.0.0.2");
        let mut first = [0u8; 11];
        match tokio::time::timeout(
            Duration::from_millis(300),
            tokio::io::AsyncReadExt::read_exact(&mut stream, &mut first),
        )
        .await
        {
            Ok(Ok(_)) if &first == b"ERROR busy " => refused += 1,
            _ => silent.push(stream),
        }
    }
    assert_eq!(
        silent.len(),
        8,
        "the source holds its cap of slots, no more"
    );
    assert_eq!(refused, 32, "the rest of the flood is refused at once");
    // A client from 127.0.0.1 is served while the silent ones wait.
    let legit = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut client = LineClient::authed(legit, &token).await;
    assert_eq!(client.call("1 SET deploy.x 1").await, "1 OK");
    drop(silent);
}
