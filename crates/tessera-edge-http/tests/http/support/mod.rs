//! Harness for the HTTP edge's end-to-end tests: the real Tessera (`tessera dev`, started once per
//! test binary), the real edge binary (one or more per test), a real upstream on a loopback port
//! (see [`upstream`]), and small HTTP, raw-socket and gRPC clients.
//!
//! The Tessera binary is required: without it every test fails with a message saying how to build
//! it. Nothing listens on a fixed port; every wait polls with a deadline.

#![allow(dead_code)]

pub mod forwarder;
pub mod http_client;
pub mod totp;
pub mod upstream;
pub mod wsgi;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tessera_proto::v1 as pb;
use tonic::transport::Channel;

/// How long Tessera may take to start (initdb, migrations, argon2 hashing of bootstrap accounts).
pub const TESSERA_START_DEADLINE: Duration = Duration::from_secs(180);
/// How long an edge may take to start.
pub const EDGE_START_DEADLINE: Duration = Duration::from_secs(30);

/// Password of every bootstrap account the tests add.
pub const PASSWORD: &str = "correct horse battery staple 7";

/// What `tessera dev --ready-file` reports.
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    /// gRPC address, `127.0.0.1:PORT`.
    pub grpc_addr: String,
    /// The embedded PostgreSQL.
    pub database_url: String,
    /// The dev admin's login name.
    pub admin_username: String,
    /// The dev admin's password.
    pub admin_password: String,
    /// A session token of the dev admin.
    pub admin_token: String,
    /// A service token holding only `introspect`.
    pub service_token: String,
}

/// The shared `tessera dev`.
pub struct Tessera {
    /// What it reported.
    pub ready: Ready,
    /// Its data directory (`totp.key` lives there).
    pub data_dir: PathBuf,
    /// Held for the life of the test process: when it closes, the watchdog stops Tessera and
    /// removes its directory.
    _watchdog: Mutex<std::process::ChildStdin>,
}

static TESSERA: OnceLock<Result<Tessera, String>> = OnceLock::new();

/// The running Tessera, started on first use. Panics (failing the test) when it cannot start.
pub fn tessera() -> &'static Tessera {
    match TESSERA.get_or_init(start_tessera) {
        Ok(tessera) => tessera,
        Err(message) => panic!("{message}"),
    }
}

/// The `tessera` binary: `$TESSERA_BIN`, else `<repo>/target/debug/tessera`.
pub fn tessera_bin() -> PathBuf {
    match std::env::var_os("TESSERA_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/tessera"),
    }
}

/// Accounts every test binary gets, on top of the dev admin.
fn bootstrap_accounts() -> String {
    let accounts: Vec<serde_json::Value> = ["alice", "bob", "erin", "frank"]
        .iter()
        .map(|name| {
            serde_json::json!({
                "username": name,
                "password": PASSWORD,
                "role": "user",
                "display_name": name.to_uppercase(),
            })
        })
        .collect();
    serde_json::Value::Array(accounts).to_string()
}

/// Starts a process that stops `pid` (SIGTERM, then SIGKILL) and removes `dir` once this test
/// process ends, however it ends: it waits for its standard input to close.
fn watchdog(pid: u32, dir: &Path) -> std::io::Result<std::process::ChildStdin> {
    let script = r#"cat >/dev/null
kill -TERM "$0" 2>/dev/null
i=0
while kill -0 "$0" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$0" 2>/dev/null
rm -rf "$1""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(child.stdin.take().expect("piped stdin"))
}

fn start_tessera() -> Result<Tessera, String> {
    start_tessera_with(&[])
}

/// A `tessera dev` of its own serving gRPC over TLS with this certificate and key (PEM files);
/// stopped when the returned value is dropped.
pub fn start_tls_tessera(cert: &Path, key: &Path) -> Result<Tessera, String> {
    let cert = cert.display().to_string();
    let key = key.display().to_string();
    start_tessera_with(&[("TESSERA_TLS_CERT", &cert), ("TESSERA_TLS_KEY", &key)])
}

/// A `tessera dev` of its own with `env` added (e.g. `TESSERA_METRICS_LISTEN`); stopped when the
/// returned value is dropped.
pub fn start_private_tessera(env: &[(&str, &str)]) -> Result<Tessera, String> {
    start_tessera_with(env)
}

fn start_tessera_with(env: &[(&str, &str)]) -> Result<Tessera, String> {
    let bin = tessera_bin();
    if !bin.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build -p tessera-cli` (or set TESSERA_BIN)",
            bin.display()
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("tessera-edge-http-")
        .tempdir_in("/tmp")
        .map_err(|e| e.to_string())?
        .keep();
    let data_dir = dir.join("data");
    let ready_file = dir.join("ready.json");
    let log_path = dir.join("tessera.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let mut child = Command::new(&bin)
        .arg("dev")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--ready-file")
        .arg(&ready_file)
        .env("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", bootstrap_accounts())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let watchdog = watchdog(child.id(), &dir).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + TESSERA_START_DEADLINE;
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready_file) {
            if let Ok(ready) = serde_json::from_str::<Ready>(&text) {
                return Ok(Tessera {
                    ready,
                    data_dir,
                    _watchdog: Mutex::new(watchdog),
                });
            }
        }
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "tessera dev exited with {status} before it was ready:\n{}",
                log()
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "tessera dev was not ready within {TESSERA_START_DEADLINE:?}:\n{}",
                log()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Tessera {
    /// The gRPC address as a URI.
    pub fn uri(&self) -> String {
        format!("http://{}", self.ready.grpc_addr)
    }

    /// A gRPC client (no caller token attached).
    pub async fn client(&self) -> pb::auth_service_client::AuthServiceClient<Channel> {
        pb::auth_service_client::AuthServiceClient::connect(self.uri())
            .await
            .expect("connect to tessera")
    }

    /// Issues a token as `caller`.
    pub async fn issue_as(
        &self,
        caller: &str,
        request: pb::IssueTokenRequest,
    ) -> pb::IssueTokenResponse {
        self.client()
            .await
            .issue_token(with_bearer(request, caller))
            .await
            .expect("issue token")
            .into_inner()
    }

    /// Issues a token as the dev admin.
    pub async fn issue(&self, request: pb::IssueTokenRequest) -> String {
        self.issue_as(&self.ready.admin_token, request).await.token
    }

    /// Issues a plain one-hour API token as the dev admin.
    pub async fn token(&self) -> String {
        self.issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            description: "edge-http test".into(),
            ..Default::default()
        })
        .await
    }

    /// Logs `username` in, returning the session token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        self.client()
            .await
            .login(pb::LoginRequest {
                username: username.into(),
                password: password.into(),
                totp_code: String::new(),
            })
            .await
            .expect("login")
            .into_inner()
            .token
    }

    /// Revokes `token` as the dev admin.
    pub async fn revoke(&self, token: &str) {
        let request = pb::RevokeRequest {
            target: Some(pb::revoke_request::Target::Token(token.into())),
            reason: "edge-http test".into(),
        };
        self.client()
            .await
            .revoke(with_bearer(request, &self.ready.admin_token))
            .await
            .expect("revoke");
    }

    /// Adds an account with TOTP through the `tessera user add` command; returns the base32 seed.
    pub fn add_totp_user(&self, username: &str) -> String {
        let key = std::fs::read_to_string(self.data_dir.join("totp.key")).expect("totp.key");
        let mut child = Command::new(tessera_bin())
            .args([
                "user",
                "add",
                "--username",
                username,
                "--totp",
                "--password-stdin",
            ])
            .env("TESSERA_DATABASE_URL", &self.ready.database_url)
            .env("TESSERA_TOTP_KEY", key.trim())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera user add");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{PASSWORD}").expect("write password");
        }
        let output = child.wait_with_output().expect("tessera user add output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "tessera user add failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let uri = stdout
            .split_whitespace()
            .find(|word| word.starts_with("otpauth://"))
            .unwrap_or_else(|| panic!("no otpauth:// URI in {stdout:?}"));
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("secret="))
            .unwrap_or_else(|| panic!("no secret in {uri}"))
            .to_owned()
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn with_bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("token is a header value"),
    );
    request
}

/// A port nothing listens on (bound once, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A running `tessera-edge-http`.
pub struct Edge {
    /// `http://127.0.0.1:PORT` or `https://…`.
    pub url: String,
    /// Its listening address.
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How an edge process ended before it was ready.
#[derive(Debug)]
pub struct EdgeFailure {
    /// Its exit status, when it exited.
    pub status: Option<std::process::ExitStatus>,
    /// What it wrote to stderr.
    pub stderr: String,
}

/// The edge binary Cargo built for these tests.
pub fn edge_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tessera-edge-http"))
}

impl Edge {
    /// Starts an edge in front of Tessera with the dev service token and `args`; panics when it
    /// does not become ready.
    pub async fn start(args: &[&str]) -> Edge {
        let tessera = tessera();
        Edge::start_with(&tessera.uri(), &tessera.ready.service_token, args)
            .await
            .unwrap_or_else(|failure| panic!("edge did not start: {failure:?}"))
    }

    /// Starts an edge with an explicit Tessera address and service token.
    pub async fn start_with(
        tessera: &str,
        service_token: &str,
        args: &[&str],
    ) -> Result<Edge, EdgeFailure> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready_file = dir.path().join("ready.json");
        let stderr_path = dir.path().join("edge.log");
        let stderr = std::fs::File::create(&stderr_path).expect("log file");
        let mut child = Command::new(edge_bin())
            .args(["--listen", "127.0.0.1:0", "--tessera", tessera])
            .arg("--ready-file")
            .arg(&ready_file)
            .args(args)
            .env("TESSERA_SERVICE_TOKEN", service_token)
            .env("TESSERA_LOG", "info,tessera_edge_http=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start tessera-edge-http");
        let read_log = || {
            let mut text = String::new();
            if let Ok(mut file) = std::fs::File::open(&stderr_path) {
                let _ = file.read_to_string(&mut text);
            }
            text
        };
        let deadline = Instant::now() + EDGE_START_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                if let Ok(ready) = serde_json::from_str::<serde_json::Value>(&text) {
                    let url = ready["url"].as_str().expect("url").to_owned();
                    let addr = ready["listen_addr"]
                        .as_str()
                        .expect("addr")
                        .parse()
                        .expect("addr");
                    return Ok(Edge {
                        url,
                        addr,
                        child,
                        dir,
                    });
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(EdgeFailure {
                    status: Some(status),
                    stderr: read_log(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(EdgeFailure {
                    status: None,
                    stderr: read_log(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the edge logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("edge.log")).unwrap_or_default()
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Polls `condition` every 100 ms until it holds or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if condition().await {
            return;
        }
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
