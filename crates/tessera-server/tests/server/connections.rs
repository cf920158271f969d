//! The gRPC port's connection limits (issue 30): a connection that never shows it speaks gRPC is
//! closed after the preface deadline; one source address cannot hold more than its cap of such
//! connections, nor can anyone hold more than `max_connections`, and over either cap a connection
//! is closed at once; a connection with no call open is closed after the idle timeout, one with a
//! stream open is not. Under TLS the handshake and the preface share the one deadline.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use rustls::pki_types::{pem::PemObject as _, CertificateDer, ServerName};
use tessera_core::clock::SystemClock;
use tessera_harness::{pki::Pki, server::TestServer};
use tessera_server::{
    connections::ConnectionLimits,
    server::Server,
    settings::{AuthSettings, ServeSettings},
    tls::TlsFiles,
};
use tessera_store::testing::TestDatabase;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use tonic::transport::Channel;
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

/// What every HTTP/2 client sends first, then an empty SETTINGS frame.
const PREFACE_AND_SETTINGS: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// Generous bounds for a loaded two-core machine; the settings under test are far shorter.
const SOON: Duration = Duration::from_secs(20);

async fn server_with(limits: ConnectionLimits) -> TestServer {
    TestServer::start_serving(
        |s| s,
        |s| ServeSettings {
            connections: limits,
            ..s
        },
    )
    .await
}

/// A connection to `addr` from the loopback address `127.0.0.<last>`.
async fn connect_from(last: u8, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::from([127, 0, 0, last]), 0))
        .expect("bind the source address");
    socket.connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection; panics if it has not within `deadline`.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), deadline: Duration, what: &str) {
    let read = async {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or_else(|_| panic!("{what}: still open after {deadline:?}"));
}

/// A health check over a fresh connection from 127.0.0.1.
async fn health_check(addr: SocketAddr) -> Result<(), String> {
    let call = async {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .map_err(|_| "timed out".to_owned())?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_preface_are_closed_after_the_deadline() {
    let server = server_with(ConnectionLimits {
        preface_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    })
    .await;
    let mut silent = connect_from(2, server.addr).await;
    let mut half = connect_from(2, server.addr).await;
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    closed_within(&mut silent, SOON, "silent connection").await;
    closed_within(&mut half, SOON, "half a preface").await;
    // A client that speaks gRPC is served as before.
    health_check(server.addr).await.expect("health check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_over_its_cap_is_refused_while_another_is_served() {
    const CAP: usize = 4;
    let server = server_with(ConnectionLimits {
        max_connections: 64,
        max_pending_per_source: CAP,
        // Long: the silent connections hold their places for the whole test.
        preface_timeout: Duration::from_secs(120),
        ..ConnectionLimits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(connect_from(2, server.addr).await);
    }
    // The server takes connections in the order they came, so these are over the cap.
    for n in CAP..CAP + 8 {
        let mut over = connect_from(2, server.addr).await;
        closed_within(&mut over, SOON, &format!("connection {n} from 127.0.0.2")).await;
    }
    health_check(server.addr)
        .await
        .expect("another address is served");
    // Once one of the silent ones speaks gRPC, its place is free again.
    let mut speaks = held.pop().unwrap();
    speaks.write_all(PREFACE_AND_SETTINGS).await.unwrap();
    let mut next = None;
    for _ in 0..100 {
        let mut candidate = connect_from(2, server.addr).await;
        candidate.write_all(PREFACE_AND_SETTINGS).await.unwrap();
        let mut byte = [0u8; 1];
        // Admitted: the server's SETTINGS arrive; refused: closed at once.
        match tokio::time::timeout(SOON, candidate.read(&mut byte)).await {
            Ok(Ok(1)) => {
                next = Some(candidate);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => panic!("neither served nor closed"),
        }
    }
    assert!(next.is_some(), "the freed place was never given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_slot_taken_a_new_connection_is_closed_at_once() {
    // The test server's own client holds one connection.
    let server = server_with(ConnectionLimits {
        max_connections: 4,
        preface_timeout: Duration::from_secs(120),
        ..ConnectionLimits::default()
    })
    .await;
    let mut held = Vec::new();
    for last in 2..5 {
        held.push(connect_from(last, server.addr).await);
    }
    let mut over = connect_from(5, server.addr).await;
    closed_within(&mut over, SOON, "a fifth connection").await;
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + SOON;
    while let Err(error) = health_check(server.addr).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no slot came back: {error}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_streams_keep_theirs() {
    let server = server_with(ConnectionLimits {
        idle_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    })
    .await;
    // A health Watch: the stream stays open with nothing to say after the first status.
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest::default())
        .await
        .expect("watch")
        .into_inner();
    watch
        .message()
        .await
        .expect("first status")
        .expect("status");
    // A connection past its preface that never opens a stream.
    let mut idle = connect_from(2, server.addr).await;
    idle.write_all(PREFACE_AND_SETTINGS).await.unwrap();
    closed_within(&mut idle, SOON, "idle connection").await;
    // The watch has now been open longer than the idle timeout, and is still open.
    match tokio::time::timeout(Duration::from_secs(2), watch.message()).await {
        Err(_) => {}
        Ok(answer) => panic!("the watch ended: {answer:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_a_client_that_stops_after_the_handshake_is_closed_too() {
    let db = TestDatabase::new(&tessera_store::MIGRATOR).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("connections");
    pki.write_server_files(dir.path()).unwrap();
    let serve = ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(TlsFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            client_ca: None,
            watch_interval: Duration::from_secs(60),
        }),
        connections: ConnectionLimits {
            preface_timeout: Duration::from_secs(1),
            ..ConnectionLimits::default()
        },
        ..ServeSettings::default()
    };
    let server = Server::bind(
        db.pool.clone(),
        Arc::new(SystemClock),
        AuthSettings::default(),
        serve,
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

    let mut silent = connect_from(2, addr).await;
    let tcp = connect_from(2, addr).await;
    let mut handshaken = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("tls handshake");
    closed_within(&mut silent, SOON, "silent connection").await;
    closed_within(&mut handshaken, SOON, "tls without a preface").await;

    // A client that goes on to the preface is served.
    let tcp = connect_from(3, addr).await;
    let mut speaks = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("tls handshake");
    speaks.write_all(PREFACE_AND_SETTINGS).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(SOON, speaks.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(1))),
        "no SETTINGS from the server: {read:?}"
    );
}
