//! Retries, fail-over and the resync protocol against the stub: no Tessera needed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tessera_client::{Client, Reason, RetryPolicy, Secret, WatchEvent};

use super::stub;

fn client(addresses: &[String]) -> Client {
    Client::builder()
        .addresses(addresses.iter().cloned())
        .token(Secret::new("tsr_svc_test".into()))
        .deadline(Duration::from_secs(20))
        .retry(RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn only_calls_safe_to_repeat_are_repeated_on_unavailable() {
    let (addr, seen) = stub::start(1).await;
    let client = client(&[format!("http://{addr}")]);

    let error = client.introspect("tsr_api_x").await.unwrap_err();
    assert_eq!(error.reason(), Reason::Unavailable);
    assert_eq!(
        seen.unary_calls.swap(0, Ordering::SeqCst),
        1,
        "a use-consuming introspect was repeated"
    );
    let login = client
        .login(tessera_client::Login::new("a", Secret::new("p".into())))
        .await;
    assert_eq!(login.unwrap_err().reason(), Reason::Unavailable);
    assert_eq!(
        seen.unary_calls.swap(0, Ordering::SeqCst),
        1,
        "login was repeated"
    );
    let unlock = client
        .unlock(tessera_client::Unlock::new(Secret::new("p".into())))
        .await;
    assert_eq!(unlock.unwrap_err().reason(), Reason::Unavailable);
    assert_eq!(
        seen.unary_calls.swap(0, Ordering::SeqCst),
        1,
        "unlock was repeated"
    );
    let issue = client
        .issue_token(tessera_client::IssueToken::new(Duration::from_secs(60)))
        .await;
    assert_eq!(issue.unwrap_err().reason(), Reason::Unavailable);
    assert_eq!(
        seen.unary_calls.swap(0, Ordering::SeqCst),
        1,
        "issue was repeated"
    );

    assert_eq!(
        client.peek("tsr_api_x").await.unwrap_err().reason(),
        Reason::Unavailable
    );
    assert_eq!(
        seen.unary_calls.swap(0, Ordering::SeqCst),
        3,
        "peek is safe: all attempts"
    );
    client
        .check_namespace("tsr_api_x", ["a.b"], "")
        .await
        .unwrap_err();
    assert_eq!(seen.unary_calls.swap(0, Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connection_fails_over_even_for_a_use_consuming_call() {
    let (addr, seen) = stub::start(1).await;
    let dead = format!("http://127.0.0.1:{}", stub::closed_port());
    let client = client(&[dead.clone(), format!("http://{addr}")]);
    assert_eq!(client.current_address(), dead);
    // The request never left for the dead address, so it may go to the next one: the stub
    // answers (UNAVAILABLE, once) — proof that the call reached it.
    let error = client.introspect("tsr_api_x").await.unwrap_err();
    assert_eq!(error.reason(), Reason::Unavailable);
    assert_eq!(seen.unary_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connect_fails_with_unavailable_when_no_address_answers() {
    let dead = format!("http://127.0.0.1:{}", stub::closed_port());
    let error = Client::connect([dead]).await.unwrap_err();
    assert_eq!(error.reason(), Reason::Unavailable);
    let bad = Client::connect(["ftp://127.0.0.1:1"]).await.unwrap_err();
    assert_eq!(bad.reason(), Reason::InvalidArgument);
    assert_eq!(bad.field(), Some("address"));
    let plaintext_with_ca = Client::builder()
        .address("http://127.0.0.1:1")
        .ca_pem(b"not used".to_vec())
        .build()
        .unwrap_err();
    assert_eq!(plaintext_with_ca.field(), Some("ca"));
}

async fn next(feed: &mut tessera_client::RevocationFeed) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(30), feed.next())
        .await
        .expect("the feed answers")
}

#[tokio::test]
async fn the_feed_resyncs_from_the_start_when_its_sequence_was_pruned() {
    // Sequences before 10 were pruned; the watcher last saw 5.
    let (addr, seen) = stub::start(10).await;
    let mut feed = client(&[format!("http://{addr}")]).watch_revocations(5);
    match next(&mut feed).await {
        WatchEvent::Resync { oldest_sequence } => assert_eq!(oldest_sequence, Some(10)),
        other => panic!("expected a resync, got {other:?}"),
    }
    assert_eq!(
        feed.last_sequence(),
        0,
        "after a resync the feed starts over"
    );
    assert!(matches!(
        next(&mut feed).await,
        WatchEvent::Connected { after_sequence: 0 }
    ));
    for expected in [10, 11] {
        match next(&mut feed).await {
            WatchEvent::Revoked(revocation) => assert_eq!(revocation.sequence, expected),
            other => panic!("expected revocation {expected}, got {other:?}"),
        }
    }
    // The stream ends; the feed reconnects after the last sequence seen, with no gap.
    assert!(matches!(next(&mut feed).await, WatchEvent::Disconnected(_)));
    assert!(matches!(
        next(&mut feed).await,
        WatchEvent::Connected { after_sequence: 11 }
    ));
    assert!(matches!(next(&mut feed).await, WatchEvent::Revoked(r) if r.sequence == 12));
    assert_eq!(*seen.watch_after.lock().unwrap(), [5, 0, 11]);
}
