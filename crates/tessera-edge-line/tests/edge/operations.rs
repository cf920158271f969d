//! Operating the edge: client TLS, its service token, Tessera outages, rules files.

use std::time::{Duration, Instant};

use crate::denied;
use crate::support::*;
use tessera_edge_line::demo::DemoOptions;
use tessera_proto::v1 as pb;

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
async fn the_certificate_rotates_on_sighup_and_on_file_change_keeping_open_connections() {
    use tessera_harness::rotation::{hang_up, served, RotatingCert};

    let upstream = Upstream::start(DemoOptions::default()).await;
    let token = issue("deploy.", 0).await.token;
    let mut rotating = RotatingCert::new();
    // SIGHUP alone (the files are not watched in this run's lifetime), then a change alone.
    for (trigger, interval) in [("SIGHUP", "1h"), ("a file change", "100ms")] {
        let (cert, key) = (rotating.cert(), rotating.key());
        let shim = Shim::start(
            &upstream.address(),
            &[
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
                "--tls-watch-interval",
                interval,
            ],
        )
        .await;
        let stream = rotating.connect(shim.addr, &[]).await;
        assert_eq!(served(&stream), rotating.current(), "{trigger}");
        let mut open = LineClient::over(Box::new(stream));
        assert_eq!(open.call(&format!("AUTH {token}")).await, "OK");
        assert_eq!(open.call("1 SET deploy.rotation 1").await, "1 OK");

        rotating.rotate();
        if trigger == "SIGHUP" {
            hang_up(shim.pid());
        }
        assert!(
            rotating
                .wait_until_served(shim.addr, Duration::from_secs(10))
                .await,
            "{trigger}: new connections never got the new certificate"
        );
        assert_eq!(
            open.call("2 GET deploy.rotation").await,
            "2 OK planned 1",
            "{trigger}: the connection opened before the rotation"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_over_tls_with_a_private_ca_and_fail_over() {
    let cert = TestCert::new();
    let tls_tessera = start_tls_tessera(&cert).expect("tessera dev with tls");
    let port = tls_tessera
        .ready
        .grpc_addr
        .rsplit_once(':')
        .expect("port")
        .1;
    let https = format!("https://localhost:{port}");
    let upstream = Upstream::start(DemoOptions::default()).await;

    // The first replica is dead: the edge fails over, and every call goes over TLS.
    let vacant = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!(
        "https://localhost:{}",
        vacant.local_addr().expect("addr").port()
    );
    drop(vacant);
    let shim = Shim::try_start_via(
        &format!("{dead},{https}"),
        &tls_tessera.ready.service_token,
        &upstream.address(),
        &["--tessera-ca", cert.cert_arg()],
    )
    .await
    .expect("the edge starts against tessera over tls");
    let mut client = LineClient::authed(shim.addr, &tls_tessera.ready.admin_token).await;
    assert_eq!(client.call("1 SET deploy.tls 9").await, "1 OK");
    assert_eq!(client.call("2 GET deploy.tls").await, "2 OK planned 9");

    // Without the CA the certificate is not trusted: the edge does not start.
    let untrusted = Shim::try_start_via(
        &https,
        &tls_tessera.ready.service_token,
        &upstream.address(),
        &["--tessera-timeout", "2s"],
    )
    .await;
    let log = untrusted.err().expect("an unknown CA was trusted");
    assert!(log.contains("cannot check the service token"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_to_start_with_an_unfit_service_token() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let address = upstream.address();
    let refused =
        |log: String, why: &str| assert!(log.contains(why), "expected {why:?} in:\n{log}");

    let admin = Shim::try_start(&tessera().ready.admin_token, &address, &[]).await;
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
        &tessera().ready.service_token,
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
    let proxy = CutProxy::start(tessera().ready.grpc_addr.clone()).await;
    let shim = Shim::try_start_via(
        &proxy.addr.to_string(),
        &tessera().ready.service_token,
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
        &tessera().ready.service_token,
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

/// The generic dialect: no quoting at all, command words in any case, forwarded as the rules
/// file spells them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_dialect_refuses_quotes_and_forwards_the_rules_spelling() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "dialect = \"generic\"\n[[command]]\nname = \"SET\"\narguments = 2\nidentifiers = [1]\n\
         [[command]]\nname = \"GET\"\nidentifiers = [1]\n",
    )
    .expect("write rules");
    let shim = Shim::start(
        &upstream.address(),
        &["--rules", rules.to_str().expect("path")],
    )
    .await;
    let mut client = LineClient::authed(shim.addr, &issue("deploy.", 0).await.token).await;
    assert_eq!(client.call("1 set deploy.g 4").await, "1 OK");
    assert_eq!(client.call("2 Get deploy.g").await, "2 OK planned 4");
    assert_eq!(client.call("3 get backup.g").await, denied("3"));
    assert_eq!(
        client.call("4 GET \"deploy.g\"").await,
        "ERROR invalid_line quotes and backslashes are not allowed"
    );
    assert!(upstream.received_containing(" SET deploy.g 4"));
    assert!(!upstream.received_containing("set"));
}

/// `GET /metrics` on the edge's metrics listener.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("write");
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut text))
        .await
        .expect("scrape timed out")
        .expect("read");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_and_commands_by_outcome() {
    let upstream = Upstream::start(DemoOptions::default()).await;
    let shim = Shim::start(&upstream.address(), &["--metrics-listen", "127.0.0.1:0"]).await;
    let metrics = shim.metrics_addr.expect("metrics_addr in the ready file");
    let token = issue("deploy.", 0).await.token;

    let mut refused = LineClient::connect(shim.addr).await;
    refused.send("AUTH tsr_api_not-a-real-token").await;
    refused.expect_closed().await;

    let mut client = LineClient::connect(shim.addr).await;
    assert_eq!(client.call(&format!("AUTH {token}")).await, "OK");
    assert_eq!(client.call("1 SET deploy.metrics 9").await, "1 OK");
    assert_eq!(client.call("2 GET backup.metrics").await, denied("2"));

    drop(refused);
    let wanted = [
        "tessera_edge_line_connections_total{outcome=\"authenticated\"} 1\n",
        "tessera_edge_line_connections_total{outcome=\"refused\"} 1\n",
        // The refused connection ends once the edge sees the client gone.
        "tessera_edge_line_connections_open 1\n",
        "tessera_edge_line_commands_total{outcome=\"forwarded\"} 1\n",
        "tessera_edge_line_commands_total{outcome=\"denied\"} 1\n",
        "tessera_edge_line_tessera_call_duration_seconds_count 2\n",
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(metrics).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let missing: Vec<_> = wanted.iter().filter(|s| !text.contains(*s)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "missing {missing:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
