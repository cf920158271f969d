//! Sequential calls from a tonic client must not wait for a delayed ACK (Nagle on the server's
//! accepted sockets). The grpc-go and grpcio clients have the same test in their own suites.

use std::time::{Duration, Instant};

use tessera_harness::{authed, DevServer};
use tessera_proto::v1 as pb;

/// A reply held back by Nagle's algorithm waits for the client's delayed ACK, 40 ms on Linux; a
/// healthy loopback call takes well under a millisecond, so half of that is a bound that holds on
/// a busy machine and still fails on a stall.
const NAGLE_STALL: Duration = Duration::from_millis(40);

#[tokio::test]
async fn sequential_tonic_calls_do_not_wait_for_delayed_acks() -> anyhow::Result<()> {
    let mut dev = DevServer::start(&[])?;
    let mut client = dev.client().await?;
    let request = || {
        authed(
            pb::IntrospectRequest {
                token: dev.ready.admin_token.clone(),
                peek: false,
            },
            &dev.ready.service_token,
        )
    };
    for _ in 0..5 {
        client.introspect(request()).await?;
    }
    let mut took = Vec::with_capacity(50);
    for _ in 0..50 {
        let start = Instant::now();
        assert!(client.introspect(request()).await?.into_inner().active);
        took.push(start.elapsed());
    }
    took.sort();
    let median = took[took.len() / 2];
    eprintln!("sequential Introspect from tonic: p50 {median:?}");
    assert!(
        median < NAGLE_STALL / 2,
        "sequential p50 {median:?}: calls are waiting for delayed ACKs (TCP_NODELAY off?)"
    );
    dev.stop()?;
    Ok(())
}
