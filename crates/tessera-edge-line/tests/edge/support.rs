//! Harness for the edge's end-to-end tests: the real Tessera (tessera-harness's `tessera dev`,
//! started once per test binary), the real edge binary (one per test), the ztick model as
//! upstream (in-process, so a test can stop and restart it), and a plain line client.
//!
//! The Tessera binary is required: without it every test fails with a message saying how to
//! build it. Nothing listens on a fixed port; every wait polls with a deadline.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tessera_edge_line::demo::{self, DemoOptions, SchedulerState};
use tessera_edge_line::BoxedIo;
use tessera_harness::DevServer;
use tessera_proto::v1 as pb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// How long a single reply may take before a test fails instead of hanging.
pub const REPLY_DEADLINE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Tessera

static TESSERA: OnceLock<Result<DevServer, String>> = OnceLock::new();

/// The shared `tessera dev` (tessera-harness), started on first use and stopped when the test
/// process ends. Panics (failing the test) when it cannot start.
pub fn tessera() -> &'static DevServer {
    tessera_harness::shared(&TESSERA, || DevServer::start(&[]))
}

/// A `tessera dev` of its own serving gRPC over TLS with `cert`; stopped when dropped.
pub fn start_tls_tessera(cert: &TestCert) -> anyhow::Result<DevServer> {
    DevServer::start(&[
        ("TESSERA_TLS_CERT", cert.cert_arg()),
        ("TESSERA_TLS_KEY", cert.key_arg()),
    ])
}

/// Adds `authorization: Bearer …` to every call of a test's own gRPC client.
#[derive(Clone)]
pub struct BearerAuth(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub type Client =
    pb::auth_service_client::AuthServiceClient<InterceptedService<Channel, BearerAuth>>;

/// A gRPC client calling as `token`.
pub async fn grpc(token: &str) -> Client {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", tessera().ready.grpc_addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect to tessera");
    let auth = BearerAuth(format!("Bearer {token}").parse().expect("bearer"));
    pb::auth_service_client::AuthServiceClient::with_interceptor(channel, auth)
}

/// A fresh token issued by the admin.
pub async fn issue(namespace: &str, max_uses: u32) -> pb::IssueTokenResponse {
    issue_with(pb::IssueTokenRequest {
        namespace: namespace.to_owned(),
        max_uses,
        ttl: "1h".to_owned(),
        description: "tessera-edge-line test".to_owned(),
        ..Default::default()
    })
    .await
}

/// A token issued by the admin with every field chosen by the test.
pub async fn issue_with(request: pb::IssueTokenRequest) -> pb::IssueTokenResponse {
    grpc(&tessera().ready.admin_token)
        .await
        .issue_token(request)
        .await
        .expect("issue token")
        .into_inner()
}

/// Revokes a token by id, as the admin.
pub async fn revoke(token_id: &str) {
    let response = grpc(&tessera().ready.admin_token)
        .await
        .revoke(pb::RevokeRequest {
            target: Some(pb::revoke_request::Target::TokenId(token_id.to_owned())),
            reason: "tessera-edge-line test".to_owned(),
            ..Default::default()
        })
        .await
        .expect("revoke")
        .into_inner();
    assert!(response.revoked_count >= 1, "nothing revoked");
}

// ---------------------------------------------------------------------------------------------
// The edge binary

/// A running `tessera-edge-line`, killed on drop.
pub struct Shim {
    pub addr: SocketAddr,
    /// The metrics listener, when started with `--metrics-listen`.
    pub metrics_addr: Option<SocketAddr>,
    child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Shim {
    /// The edge's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the edge is running")
    }

    /// Starts the edge in front of `upstream` with the dev service token and extra flags.
    pub async fn start(upstream: &str, extra: &[&str]) -> Shim {
        match Self::try_start(&tessera().ready.service_token, upstream, extra).await {
            Ok(shim) => shim,
            Err(log) => panic!("tessera-edge-line did not start:\n{log}"),
        }
    }

    /// Starts the edge; `Err` carries its log when it exits instead of becoming ready.
    pub async fn try_start(
        service_token: &str,
        upstream: &str,
        extra: &[&str],
    ) -> Result<Shim, String> {
        Self::try_start_via(&tessera().ready.grpc_addr, service_token, upstream, extra).await
    }

    /// Starts the edge talking to Tessera at `tessera_addr` (e.g. through a [`CutProxy`]).
    pub async fn try_start_via(
        tessera_addr: &str,
        service_token: &str,
        upstream: &str,
        extra: &[&str],
    ) -> Result<Shim, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready = dir.path().join("ready.json");
        let log_path = dir.path().join("edge.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera-edge-line"))
            .args(["--listen", "127.0.0.1:0", "--tessera", tessera_addr])
            .args([
                "--service-token",
                service_token,
                "--upstream",
                upstream,
                "--ready-file",
            ])
            .arg(&ready)
            .args(["--log", "tessera_edge_line=debug,info"])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn tessera-edge-line");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(body) = std::fs::read_to_string(&ready) {
                let ready: serde_json::Value = serde_json::from_str(&body).expect("ready JSON");
                let addr = ready["listen_addr"]
                    .as_str()
                    .expect("listen_addr")
                    .parse()
                    .expect("addr");
                let metrics_addr = ready["metrics_addr"]
                    .as_str()
                    .map(|a| a.parse().expect("metrics addr"));
                return Ok(Shim {
                    addr,
                    metrics_addr,
                    child,
                    dir,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("exit {status}\n{log}"));
            }
            assert!(
                Instant::now() < deadline,
                "tessera-edge-line not ready within 30s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the edge has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("edge.log")).unwrap_or_default()
    }

    /// Whether the edge process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

// ---------------------------------------------------------------------------------------------
// The upstream

/// The demo scheduler, in-process, restartable on the same port with the same state.
pub struct Upstream {
    pub addr: SocketAddr,
    pub state: Arc<SchedulerState>,
    options: DemoOptions,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl Upstream {
    pub async fn start(options: DemoOptions) -> Upstream {
        let mut upstream = Upstream {
            addr: "127.0.0.1:0".parse().expect("addr"),
            state: Arc::new(SchedulerState::default()),
            options,
            stop: None,
            task: None,
        };
        upstream.serve().await;
        upstream
    }

    async fn serve(&mut self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket.bind(self.addr).expect("bind upstream");
        let listener = socket.listen(1024).expect("listen");
        self.addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = watch::channel(false);
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(demo::serve(
            listener,
            self.state.clone(),
            self.options.clone(),
            stopped,
        )));
    }

    /// `host:port` for `--upstream`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Closes the listener and every connection.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            task.await.expect("upstream task");
        }
    }

    /// Serves again on the same port, with the state it had.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.serve().await;
    }

    /// How many received lines contain `needle`.
    pub fn received_count(&self, needle: &str) -> usize {
        self.state
            .received()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Whether the upstream ever received a line containing `needle`.
    pub fn received_containing(&self, needle: &str) -> bool {
        self.state
            .received()
            .iter()
            .any(|line| line.contains(needle))
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

/// A plain line-protocol client, independent of the edge's codec.
pub struct LineClient {
    reader: BufReader<ReadHalf<BoxedIo>>,
    writer: WriteHalf<BoxedIo>,
}

impl LineClient {
    pub async fn connect(addr: SocketAddr) -> LineClient {
        let stream = TcpStream::connect(addr).await.expect("connect to edge");
        LineClient::over(Box::new(stream))
    }

    pub fn over(io: BoxedIo) -> LineClient {
        let (read, writer) = tokio::io::split(io);
        LineClient {
            reader: BufReader::new(read),
            writer,
        }
    }

    /// Connects and authenticates, asserting `OK`.
    pub async fn authed(addr: SocketAddr, token: &str) -> LineClient {
        let mut client = LineClient::connect(addr).await;
        assert_eq!(client.call(&format!("AUTH {token}")).await, "OK");
        client
    }

    /// Sends one line (the newline is added). A closed connection is ignored here and shows up
    /// in the next `recv`.
    pub async fn send(&mut self, line: &str) {
        let _ = self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// The next line, `None` once the edge has closed the connection.
    pub async fn recv(&mut self) -> Option<String> {
        let mut line = String::new();
        match tokio::time::timeout(REPLY_DEADLINE, self.reader.read_line(&mut line)).await {
            Err(_) => panic!("no reply within {REPLY_DEADLINE:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
        }
    }

    /// Sends a line and returns the reply, failing if the connection closes instead.
    pub async fn call(&mut self, line: &str) -> String {
        self.send(line).await;
        self.recv()
            .await
            .unwrap_or_else(|| panic!("connection closed instead of answering {line:?}"))
    }

    /// Sends a list command and returns every line up to and including its end.
    pub async fn list(&mut self, line: &str) -> Vec<String> {
        let id = line
            .split_whitespace()
            .next()
            .expect("request id")
            .to_owned();
        self.send(line).await;
        let mut lines = Vec::new();
        loop {
            let reply = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("connection closed during {line:?}: {lines:?}"));
            // Exactly `<id> OK` ends a list (an item may be named OK); errors may carry a reason.
            let done = reply == format!("{id} OK")
                || reply == format!("{id} ERROR")
                || reply.starts_with(&format!("{id} ERROR "));
            lines.push(reply);
            if done {
                return lines;
            }
        }
    }

    /// Asserts that the edge closes the connection (after any lines it still sends).
    pub async fn expect_closed(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Some(line) = self.recv().await {
            rest.push(line);
            assert!(rest.len() < 100, "connection stays open: {rest:?}");
        }
        rest
    }
}

// ---------------------------------------------------------------------------------------------
// TLS material

/// A self-signed certificate for `localhost` and `127.0.0.1`, as PEM files.
pub struct TestCert {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCert {
    pub fn new() -> TestCert {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).expect("write cert");
        std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
        TestCert { dir, cert, key }
    }

    pub fn cert_arg(&self) -> &str {
        self.cert.to_str().expect("utf-8 path")
    }

    pub fn key_arg(&self) -> &str {
        self.key.to_str().expect("utf-8 path")
    }

    /// A TLS connection to `addr` that trusts only this certificate.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<BoxedIo> {
        let config = tessera_process::tls::client_config(&self.cert).expect("client config");
        let connector = tokio_rustls::TlsConnector::from(config);
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        Ok(Box::new(connector.connect(name, tcp).await?))
    }
}

/// Polls `condition` until it holds or the deadline passes.
pub async fn eventually(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !condition() {
        assert!(
            Instant::now() < until,
            "{what} did not happen within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A cuttable TCP path to the real Tessera

/// Forwards TCP to a target until cut: cutting drops every forwarded connection and refuses new
/// ones (accepted, then closed at once), as a network partition or a dead server would.
pub struct CutProxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl CutProxy {
    pub async fn start(target: String) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (up, is_up) = watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*is_up.borrow() {
                    continue;
                }
                let target = target.clone();
                let mut is_up = is_up.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = is_up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        CutProxy { addr, up, task }
    }

    pub fn cut(&self) {
        let _ = self.up.send(false);
    }

    pub fn restore(&self) {
        let _ = self.up.send(true);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
