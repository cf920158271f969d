//! Connection limits (issue 30): slow or silent clients from one address cannot take every slot,
//! a connection over a cap is answered `503 busy` at once instead of queueing, and a connection
//! that never sends a request head is closed after the header timeout.
//!
//! The per-source cap is given as `TESSERA_HTTP_MAX_PENDING_PER_SOURCE`, so the same tests run
//! against an edge without it (which ignores the variable) and fail there.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::http_client::*;
use crate::support::*;

/// Where the flood comes from; the honest client uses 127.0.0.1.
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

/// A request head cut before its end: the edge waits for the rest.
const HALF_A_HEAD: &[u8] = b"GET /api/v1/public/ping HTTP/1.1\r\nHost: edge\r\n";

/// A connection to `addr` from the loopback address `source`.
async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::from(source), 0))
        .expect("bind the source address");
    socket.connect(addr).await.expect("connect")
}

/// Reads until the edge closes the connection, or panics after `deadline`.
async fn read_to_close(stream: &mut TcpStream, deadline: Duration, what: &str) -> String {
    let mut answer = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or_else(|_| panic!("{what}: the edge neither answered nor closed in {deadline:?}"));
    String::from_utf8_lossy(&answer).into_owned()
}

/// Asserts that `answer` is the listener's `503 busy`.
fn assert_busy(answer: &str) {
    assert_eq!(raw_status(answer), 503, "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1\r\n"), "{answer}");
    assert!(lower.contains("\"error\":\"busy\""), "{answer}");
}

async fn ping_from_localhost(edge: &Edge) -> Reply {
    send_within(
        request(Method::GET, &edge.at("/api/v1/public/ping"), &[], ""),
        Duration::from_secs(15),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_from_one_address_cannot_shut_out_another() {
    const PENDING_CAP: usize = 4;
    const SLOTS: usize = 16;
    let slots = SLOTS.to_string();
    // A long header timeout: the slow clients hold their places for the whole test.
    let edge = Edge::start_with_env(
        &["--max-connections", &slots, "--header-timeout", "120s"],
        &[("TESSERA_HTTP_MAX_PENDING_PER_SOURCE", "4")],
    )
    .await;

    // The flood: every slot's worth of connections from one address, each with half a head.
    let mut held = Vec::new();
    for _ in 0..PENDING_CAP {
        let mut stream = connect_from(ATTACKER, edge.addr).await;
        stream.write_all(HALF_A_HEAD).await.expect("half a head");
        held.push(stream);
    }
    for n in PENDING_CAP..SLOTS {
        let mut stream = connect_from(ATTACKER, edge.addr).await;
        let answer = read_to_close(
            &mut stream,
            Duration::from_secs(15),
            &format!("flood connection {n}"),
        )
        .await;
        assert_busy(&answer);
    }

    // Another address is served at once.
    let started = Instant::now();
    let reply = ping_from_localhost(&edge).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    // The held connections were kept, not dropped: each finishes its head and is answered.
    for (n, stream) in held.iter_mut().enumerate() {
        stream
            .write_all(b"Connection: close\r\n\r\n")
            .await
            .expect("rest of the head");
        let answer = read_to_close(stream, Duration::from_secs(15), &format!("held {n}")).await;
        assert_eq!(raw_status(&answer), 200, "{answer}");
    }
    // With their heads in, the address has its places back.
    let mut again = connect_from(ATTACKER, edge.addr).await;
    again
        .write_all(b"GET /api/v1/public/ping HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let answer = read_to_close(&mut again, Duration::from_secs(15), "after the flood").await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_slot_taken_a_new_client_is_told_busy_at_once() {
    let edge = Edge::start(&["--max-connections", "3", "--header-timeout", "120s"]).await;
    let mut held = Vec::new();
    for source in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]] {
        let mut stream = connect_from(source, edge.addr).await;
        stream.write_all(HALF_A_HEAD).await.expect("half a head");
        held.push(stream);
    }
    // The three hold every slot (the edge takes connections in the order they came): a fourth
    // client, from anywhere, is told at once rather than left in the accept queue.
    let mut stream = connect_from([127, 0, 0, 1], edge.addr).await;
    let answer = read_to_close(&mut stream, Duration::from_secs(15), "fourth client").await;
    assert_busy(&answer);
    drop(held);
    // The edge sees the three go a moment later; until then a client is still told busy.
    eventually(Duration::from_secs(15), "a slot is free again", || async {
        let mut stream = connect_from([127, 0, 0, 1], edge.addr).await;
        let request =
            b"GET /api/v1/public/ping HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";
        if stream.write_all(request).await.is_err() {
            return false;
        }
        raw_status(&read_to_close(&mut stream, Duration::from_secs(15), "a later client").await)
            == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_no_head_is_closed_after_the_header_timeout() {
    let edge = Edge::start(&["--header-timeout", "1s"]).await;
    // Silent, and a byte of what could be an HTTP/2 preface: neither has a version yet.
    let mut silent = connect_from(ATTACKER, edge.addr).await;
    let mut preface_byte = connect_from(ATTACKER, edge.addr).await;
    preface_byte.write_all(b"P").await.expect("one byte");
    // Generous: the timeout is 1 s, the bound is for a loaded machine.
    let answer = read_to_close(&mut silent, Duration::from_secs(20), "silent client").await;
    assert!(answer.is_empty() || raw_status(&answer) == 408, "{answer}");
    read_to_close(
        &mut preface_byte,
        Duration::from_secs(20),
        "one-byte client",
    )
    .await;
    assert!(edge
        .log()
        .contains("no request head within the header timeout"));
}
