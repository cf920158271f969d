//! The Prometheus endpoint (`--metrics-listen`), scraped over real HTTP: RPC latency per method,
//! cache hits and misses, revocation lag, argon2 pool gauges, refused logins.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tessera_core::clock::{Clock, SystemClock};

use tessera_proto::v1::{self as pb, auth_service_client::AuthServiceClient};
use tessera_rules::token::{TokenKind, TokenSecret};
use tessera_server::{
    server::Server,
    settings::{AuthSettings, ServeSettings},
};
use tessera_store::{
    testing::TestDatabase,
    tokens::{self, NewToken},
    PgPool,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{metadata::MetadataValue, transport::Channel, Request};
use uuid::Uuid;

async fn store_token(pool: &PgPool, kind: TokenKind, permissions: &[&str]) -> TokenSecret {
    let secret = TokenSecret::generate(kind);
    let mut conn = pool.acquire().await.unwrap();
    tokens::insert(
        &mut conn,
        &NewToken {
            id: Uuid::new_v4(),
            hash: secret.hash(),
            kind,
            subject: None,
            parent_id: None,
            session_id: None,
            namespace: "*".into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            elevated: false,
            description: "metrics test".into(),
            issued_at: SystemClock.now(),
            expires_at: Some(SystemClock.now() + time::Duration::hours(1)),
            max_uses: None,
        },
    )
    .await
    .unwrap();
    secret
}

/// `GET path` over a fresh HTTP/1.1 connection: (status line, headers and body as text).
async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("scrape timed out")
    .unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    (status, response)
}

/// The value of the first sample line starting with `series` (name plus labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

fn authed<T>(message: T, token: &TokenSecret) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {}", token.expose())).unwrap(),
    );
    request
}

#[tokio::test]
async fn metrics_endpoint_serves_prometheus_text() {
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await.unwrap();
    let serve = ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        health_interval: Duration::from_millis(100),
        ..ServeSettings::default()
    };
    let auth = AuthSettings {
        hash_workers: 1,
        hash_queue: 3,
        ..AuthSettings::default()
    };
    let server = Server::bind(db.pool.clone(), Arc::new(SystemClock), auth, serve)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let metrics = server.metrics_addr().expect("metrics listener bound");
    let authority = server.authority().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !authority.cache_is_trusted() {
        assert!(tokio::time::Instant::now() < deadline, "feed never live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let caller = store_token(&db.pool, TokenKind::Service, &["introspect"]).await;
    let target = store_token(&db.pool, TokenKind::Api, &["read"]).await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = AuthServiceClient::new(channel.clone());
    for _ in 0..3 {
        let answer = client
            .introspect(authed(
                pb::IntrospectRequest {
                    token: target.expose().into(),
                    peek: false,
                },
                &caller,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(answer.active);
    }
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    let denied = client
        .introspect(Request::new(pb::IntrospectRequest {
            token: target.expose().into(),
            peek: false,
        }))
        .await;
    assert!(denied.is_err());
    client
        .revoke(authed(
            pb::RevokeRequest {
                target: Some(pb::revoke_request::Target::Token(target.expose().into())),
                reason: "metrics test".into(),
                ..Default::default()
            },
            &caller,
        ))
        .await
        .unwrap();

    // The revocation comes back through this replica's own feed; its lag is then recorded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, text) = http_get(metrics, "/metrics").await;
        assert!(status.contains("200"), "{status}");
        if sample(&text, "tessera_revocation_lag_seconds_count").unwrap_or(0.0) >= 1.0 {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "revocation lag never recorded:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{text}"
    );
    let introspect = "method=\"/tessera.v1.AuthService/Introspect\"";
    assert_eq!(
        sample(
            &text,
            &format!("tessera_rpc_duration_seconds_count{{{introspect}}}")
        ),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("tessera_rpc_responses_total{{{introspect},code=\"Ok\"}}")
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("tessera_rpc_responses_total{{{introspect},code=\"Unauthenticated\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tessera_rpc_duration_seconds_count{method=\"/grpc.health.v1.Health/Check\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tessera_rpc_duration_seconds_bucket{{{introspect},le=\"+Inf\"}} 4\n"
        )),
        "{text}"
    );
    // Caller and target: first call misses both, the next two hit both; Revoke's caller hits.
    assert!(
        sample(&text, "tessera_cache_hits_total").unwrap() >= 4.0,
        "{text}"
    );
    assert!(
        sample(&text, "tessera_cache_misses_total").unwrap() >= 2.0,
        "{text}"
    );
    assert_eq!(sample(&text, "tessera_cache_trusted"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "tessera_argon2_capacity"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tessera_argon2_queue_depth"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(sample(&text, "tessera_argon2_running"), Some(0.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "tessera_logins_rejected_total{reason=\"overloaded\"}"
        ),
        Some(0.0),
        "{text}"
    );
    assert!(text.contains("# TYPE tessera_revocation_lag_seconds histogram"));
    // The test's own client connection.
    assert!(
        sample(&text, "tessera_connections_open").unwrap() >= 1.0,
        "{text}"
    );

    let (status, _) = http_get(metrics, "/elsewhere").await;
    assert!(status.contains("404"), "{status}");

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    db.cleanup().await.unwrap();
}
