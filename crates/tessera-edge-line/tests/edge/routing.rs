//! Reply routing against an upstream that breaks the protocol: a reply the edge cannot match to
//! the command it is owed is a desync, never a guess.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// An upstream that answers every line with a reply under a request id nobody sent.
async fn lying_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(_)) = lines.next_line().await {
                    if write.write_all(b"zz OK backup.secret\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatchable_reply_resets_the_link_and_fails_the_commands_in_flight() {
    let (address, connections) = lying_upstream().await;
    let shim = Shim::start(&address, &["--upstream-timeout", "10s"]).await;
    let mut client = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    assert_eq!(
        client.call("1 GET deploy.a").await,
        "1 ERROR upstream_desync upstream link reset"
    );
    client
        .send_raw(b"2 GET deploy.a\n3 QUERY\n4 STAT\n")
        .await
        .expect("send");
    for id in ["2", "3", "4"] {
        let reply = client.recv().await.expect("reply");
        assert!(
            reply.starts_with(&format!("{id} ERROR upstream_desync"))
                || reply == format!("{id} ERROR upstream unavailable"),
            "{reply}"
        );
        assert!(!reply.contains("backup.secret"), "{reply}");
    }
    // Every reset link was dropped and a fresh one made for the next command.
    assert!(connections.load(Ordering::SeqCst) >= 2);
    assert!(shim.log().contains("resetting the link"), "{}", shim.log());
}
