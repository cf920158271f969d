//! Certificate rotation without a restart: the edge reads its certificate again on SIGHUP and when
//! the files change; new connections get the new certificate, and a connection opened before keeps
//! working.

use std::time::Duration;

use axum::body::Body;
use http::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tessera_harness::rotation::{hang_up, served, RotatingCert};

use crate::support::http_client::request;
use crate::support::{tessera, upstream, Edge};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_rotates_on_sighup_and_on_file_change_keeping_open_connections() {
    let tessera = tessera();
    let upstream = upstream::start().await;
    let auth = format!("Bearer {}", tessera.token().await);
    let mut rotating = RotatingCert::new();
    // SIGHUP alone (the files are not watched in this run's lifetime), then a change alone.
    for (trigger, interval) in [("SIGHUP", "1h"), ("a file change", "100ms")] {
        let (cert, key) = (rotating.cert(), rotating.key());
        let edge = Edge::start(&[
            "--upstream",
            &upstream.url(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-watch-interval",
            interval,
        ])
        .await;
        let before = rotating.current().to_vec();
        let stream = rotating.connect(edge.addr, &[b"http/1.1"]).await;
        assert_eq!(served(&stream), before, "{trigger}: the first certificate");
        let (mut open, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("http handshake");
        tokio::spawn(connection);
        let ask = || {
            request(
                Method::GET,
                "/rotation",
                &[("host", "localhost"), ("authorization", &auth)],
                Body::empty(),
            )
        };
        let first = open.send_request(ask()).await.expect("request");
        assert_eq!(first.status(), StatusCode::OK, "{trigger}");

        rotating.rotate();
        if trigger == "SIGHUP" {
            hang_up(edge.pid());
        }
        assert!(
            rotating
                .wait_until_served(edge.addr, Duration::from_secs(10))
                .await,
            "{trigger}: new connections never got the new certificate"
        );
        let after = open
            .send_request(ask())
            .await
            .expect("the connection opened before the rotation still answers");
        assert_eq!(after.status(), StatusCode::OK, "{trigger}");
    }
}
