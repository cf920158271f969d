//! The bypasses an outside review found by driving the real ztick through the edge, each replayed
//! end to end: the real edge binary, the real Tessera, and the ztick model as the upstream. Each
//! one worked against the edge that split lines on any whitespace, matched commands in any case,
//! forwarded the client's bytes and routed replies by the client's request id.

use std::time::{Duration, Instant};

use crate::support::*;
use tessera_edge_line::demo::DemoOptions;

fn denied(id: &str) -> String {
    format!("{id} ERROR auth_denied insufficient namespace scope")
}

/// A `*` client and a `deploy.` client on a fresh edge, with a backup job to protect.
async fn setup(extra: &[&str]) -> (Upstream, Shim, LineClient, LineClient) {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), extra).await;
    let mut root = LineClient::authed(shim.addr, &issue("*", 0).await.token).await;
    assert_eq!(
        root.call("1 SET backup.victim 1700000000000000000").await,
        "1 OK"
    );
    let deploy = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    (upstream, shim, root, deploy)
}

/// What the `*` client sees of the backup namespace.
async fn backup_jobs(root: &mut LineClient) -> Vec<String> {
    root.list("z QUERY backup.").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_command_words_are_checked_as_ztick_reads_them() {
    let (upstream, _shim, mut root, mut deploy) = setup(&[]).await;
    assert_eq!(
        deploy
            .call(r#"b1 "SET" backup.q1f 1911612800000000000"#)
            .await,
        denied("b1")
    );
    assert_eq!(
        deploy.call(r#"d1 "REMOVE" backup.victim"#).await,
        denied("d1")
    );
    assert_eq!(
        deploy
            .call(r#"d2 "RULE" "SET" backup.planted backup. shell /bin/true"#)
            .await,
        denied("d2")
    );
    // Quoting is fine where the check passes, and what reaches ztick is the canonical form.
    assert_eq!(deploy.call(r#"q1 "SET" "deploy.q" "5""#).await, "q1 OK");
    assert_eq!(deploy.call("q2 GET deploy.q").await, "q2 OK planned 5");
    assert!(upstream.received_containing(" SET deploy.q 5"));
    assert_eq!(
        backup_jobs(&mut root).await,
        ["z backup.victim planned 1700000000000000000", "z OK"]
    );
    assert!(!upstream.received_containing("backup.q1f"));
    assert!(!upstream.received_containing("backup.planted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_and_unicode_spaces_are_refused_not_reinterpreted() {
    let (upstream, _shim, mut root, mut deploy) = setup(&[]).await;
    for (line, why) in [
        ("b2\tX SET backup.q2f 1911612800000000000", "U+0009"),
        ("b3\u{a0}X SET backup.q3f 1911612800000000000", "U+00A0"),
        (
            "d2\tX RULE SET backup.planted backup. shell /bin/true",
            "U+0009",
        ),
        ("b6\u{2003}X SET backup.q6f 1", "U+2003"),
        ("b7\u{200b}X SET backup.q7f 1", "U+200B"),
        ("b8 SET deploy.a 1\r", "U+000D"),
    ] {
        let reply = deploy.call(line).await;
        assert!(
            reply.starts_with("ERROR invalid_line ") && reply.contains(why),
            "{line:?} got {reply:?}"
        );
    }
    // The connection stays usable.
    assert_eq!(deploy.call("ok SET deploy.fine 1").await, "ok OK");
    assert_eq!(
        backup_jobs(&mut root).await,
        ["z backup.victim planned 1700000000000000000", "z OK"]
    );
    assert!(!upstream.received_containing("backup.q"));
    assert!(!upstream.received_containing("backup.planted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_spanning_two_lines_is_refused_with_unknown_reject() {
    let (upstream, _shim, mut root, mut deploy) = setup(&[]).await;
    deploy
        .send_raw(b"\"b4 GET deploy.a\nb5 GET deploy.b\" SET backup.q4f 1911612800000000000\n")
        .await
        .expect("send");
    for _ in 0..2 {
        let reply = deploy.recv().await.expect("reply");
        assert!(reply.starts_with("ERROR invalid_line "), "{reply}");
    }
    assert_eq!(deploy.call("ok GET deploy.none").await, "ok ERROR");
    assert_eq!(
        backup_jobs(&mut root).await,
        ["z backup.victim planned 1700000000000000000", "z OK"]
    );
    assert!(!upstream.received_containing("backup.q4f"));
}

/// The edge uses its own request ids upstream, so a client cannot make another command's reply
/// (here an unfiltered list) come back under its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_request_ids_cannot_steal_an_unfiltered_reply() {
    let (upstream, _shim, _root, mut deploy) = setup(&[]).await;
    assert_eq!(deploy.call("m SET deploy.mine 3").await, "m OK");
    deploy
        .send_raw(b"l1 STAT\nl1\tX QUERY\nl1 QUERY\n\"l2 STAT\nl2\" QUERY\nl3 GET deploy.mine\n")
        .await
        .expect("send");
    let mut replies = Vec::new();
    while replies.last().map(String::as_str) != Some("l3 OK planned 3") {
        replies.push(deploy.recv().await.expect("reply"));
    }
    assert!(
        !replies.iter().any(|line| line.contains("backup.")),
        "{replies:#?}"
    );
    assert!(
        replies.contains(&"l1 deploy.mine planned 3".to_owned()),
        "{replies:#?}"
    );
    // Upstream, every command carried one of the edge's ids, none of the client's.
    assert!(upstream
        .state
        .received()
        .iter()
        .all(|line| line.starts_with('e')));
}

/// ztick frames a list with exactly `<id> OK`; an item named `OK` reads `<id> OK planned …` and
/// must neither end the list nor push the rest of it onto the next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_named_ok_does_not_leak_the_rest_of_the_list() {
    let (_upstream, _shim, mut root, mut deploy) = setup(&[]).await;
    assert_eq!(root.call("2 SET OK 5").await, "2 OK");
    assert_eq!(root.call("3 SET ERROR 6").await, "3 OK");
    assert_eq!(root.call("4 SET backup.secret 7").await, "4 OK");
    assert_eq!(deploy.call("1 SET deploy.mine 1").await, "1 OK");
    deploy
        .send_raw(b"A QUERY\nA GET deploy.mine\nOK GET deploy.mine\nERROR QUERY deploy.\n")
        .await
        .expect("send");
    let mut replies = Vec::new();
    for _ in 0..6 {
        replies.push(deploy.recv().await.expect("reply"));
    }
    assert_eq!(
        replies,
        [
            "A deploy.mine planned 1",
            "A OK",
            "A OK planned 1",
            "OK OK planned 1",
            "ERROR deploy.mine planned 1",
            "ERROR OK",
        ]
    );
    // The `*` client sees the odd items as items, and the list ends at exactly `5 OK`.
    root.send("5 QUERY").await;
    let mut all = Vec::new();
    while all.last().map(String::as_str) != Some("5 OK") {
        all.push(root.recv().await.expect("item"));
    }
    assert_eq!(all[..2], ["5 ERROR planned 6", "5 OK planned 5"]);
}

/// Lines ztick would ignore (so the client would wait for the upstream timeout) are answered by
/// the edge at once, naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_ztick_would_ignore_is_answered_at_once() {
    let (upstream, shim, _root, mut deploy) = setup(&["--upstream-timeout", "10s"]).await;
    assert_eq!(deploy.call("w SET deploy.a 1").await, "w OK");
    // Normal round trips (Tessera check and upstream), for scale: the slowest of five, so a busy
    // machine slows the yardstick as much as what it measures.
    let mut round_trip = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(deploy.call("n GET deploy.a").await, "n OK planned 1");
        round_trip = round_trip.max(started.elapsed());
    }

    let backslashes = "\\".repeat(3000);
    let cases: Vec<(String, String)> = vec![
        (
            "1 get deploy.a".into(),
            "1 ERROR unknown_command commands are case-sensitive, did you mean GET".into(),
        ),
        (
            "2 Set deploy.a 1".into(),
            "2 ERROR unknown_command commands are case-sensitive, did you mean SET".into(),
        ),
        (
            "3 SET deploy.a".into(),
            "3 ERROR missing_argument SET needs 2 argument(s)".into(),
        ),
        (
            "4 GET".into(),
            "4 ERROR missing_argument GET needs 1 argument(s)".into(),
        ),
        (
            "5 RULE SET deploy.r".into(),
            "5 ERROR missing_argument RULE SET needs 2 argument(s)".into(),
        ),
        ("6".into(), "6 ERROR missing_command".into()),
        // Fits the client limit, but its canonical form (each `\` quoted) does not fit ztick's.
        (
            format!("7 SET deploy.a {backslashes}"),
            "7 ERROR line_too_long".into(),
        ),
    ];
    let mut slowest = Duration::ZERO;
    for (line, want) in &cases {
        let started = Instant::now();
        assert_eq!(&deploy.call(line).await, want);
        slowest = slowest.max(started.elapsed());
    }
    // A 5 KB line: over ztick's 4096-byte buffer, refused before anything is forwarded.
    let started = Instant::now();
    deploy
        .send(&format!("8 SET deploy.big {}", "9".repeat(5000)))
        .await;
    assert_eq!(deploy.recv().await.as_deref(), Some("ERROR line_too_long"));
    slowest = slowest.max(started.elapsed());
    println!("normal round trip {round_trip:?}, slowest refusal {slowest:?}");
    assert!(
        slowest < Duration::from_millis(100).max(round_trip * 2),
        "a refusal took {slowest:?} (round trip {round_trip:?})"
    );
    assert!(!upstream.received_containing("deploy.big"));
    assert!(!upstream.received_containing("get deploy.a"));
    assert_eq!(upstream.received_count("SET deploy.a"), 1);
    drop(shim);
}
