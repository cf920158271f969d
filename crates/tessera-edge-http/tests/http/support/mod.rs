//! Harness for the HTTP edge's end-to-end tests: the real Tessera (tessera-harness's `tessera dev`,
//! started once per test binary), the real edge binary (one or more per test), a real upstream on
//! a loopback port (see [`upstream`]), and small HTTP, raw-socket and gRPC clients.
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
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tessera_harness::DevServer;
use tessera_proto::v1 as pb;
use tonic::transport::Channel;

/// How long an edge may take to start.
pub const EDGE_START_DEADLINE: Duration = Duration::from_secs(30);

/// Password of every bootstrap account the tests add.
pub const PASSWORD: &str = "correct horse battery staple 7";

pub use tessera_harness::{authed, closed_port, run_with_stdin};

/// The shared `tessera dev` (tessera-harness's [`DevServer`]) with the helpers these tests use.
pub struct Tessera(DevServer);

impl std::ops::Deref for Tessera {
    type Target = DevServer;

    fn deref(&self) -> &DevServer {
        &self.0
    }
}

static TESSERA: OnceLock<Result<Tessera, String>> = OnceLock::new();

/// The running Tessera, started on first use (with the bootstrap accounts below) and stopped when
/// the test process ends. Panics (failing the test) when it cannot start.
pub fn tessera() -> &'static Tessera {
    tessera_harness::shared(&TESSERA, || start_tessera_with(&[]))
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

/// A `tessera dev` of its own serving gRPC over TLS with this certificate and key (PEM files);
/// stopped when the returned value is dropped.
pub fn start_tls_tessera(cert: &Path, key: &Path) -> anyhow::Result<Tessera> {
    let cert = cert.display().to_string();
    let key = key.display().to_string();
    start_tessera_with(&[("TESSERA_TLS_CERT", &cert), ("TESSERA_TLS_KEY", &key)])
}

/// A `tessera dev` of its own with `env` added (e.g. `TESSERA_METRICS_LISTEN`); stopped when the
/// returned value is dropped.
pub fn start_private_tessera(env: &[(&str, &str)]) -> anyhow::Result<Tessera> {
    start_tessera_with(env)
}

fn start_tessera_with(env: &[(&str, &str)]) -> anyhow::Result<Tessera> {
    let accounts = bootstrap_accounts();
    let mut env = env.to_vec();
    env.push(("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", &accounts));
    Ok(Tessera(DevServer::start(&env)?))
}

impl Tessera {
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
            .issue_token(authed(request, caller))
            .await
            .expect("issue token")
            .into_inner()
    }

    /// A plain one-hour token issued as `caller` (a session or token of its own).
    pub async fn child_of(&self, caller: &str) -> String {
        self.issue_as(
            caller,
            pb::IssueTokenRequest {
                ttl: "1h".into(),
                ..Default::default()
            },
        )
        .await
        .token
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
            ..Default::default()
        };
        self.client()
            .await
            .revoke(authed(request, &self.ready.admin_token))
            .await
            .expect("revoke");
    }

    /// Adds an account with TOTP through the `tessera user add` command; returns the base32 seed.
    pub fn add_totp_user(&self, username: &str) -> String {
        let key = std::fs::read_to_string(self.data_path().join("totp.key")).expect("totp.key");
        let mut command = Command::new(tessera_harness::binary("tessera").expect("tessera binary"));
        command
            .args([
                "user",
                "add",
                "--username",
                username,
                "--totp",
                "--password-stdin",
            ])
            .env("TESSERA_DATABASE_URL", &self.ready.database_url)
            .env("TESSERA_TOTP_KEY", key.trim());
        let output = run_with_stdin(&mut command, &format!("{PASSWORD}\n"));
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

/// A one-hour token limited to `deploy.`.
pub async fn deploy_token() -> String {
    tessera()
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            namespace: "deploy.".into(),
            ..Default::default()
        })
        .await
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
    /// The edge's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts an edge in front of Tessera with the dev service token and `args`; panics when it
    /// does not become ready.
    pub async fn start(args: &[&str]) -> Edge {
        let tessera = tessera();
        Edge::start_with(&tessera.uri(), &tessera.ready.service_token, args)
            .await
            .unwrap_or_else(|failure| panic!("edge did not start: {failure:?}"))
    }

    /// [`Edge::start`] with `env` set for the edge (settings an older edge would ignore rather
    /// than refuse, e.g. to run a test against it).
    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Edge {
        let tessera = tessera();
        Edge::launch(&tessera.uri(), &tessera.ready.service_token, args, env)
            .await
            .unwrap_or_else(|failure| panic!("edge did not start: {failure:?}"))
    }

    /// Starts an edge with an explicit Tessera address and service token.
    pub async fn start_with(
        tessera: &str,
        service_token: &str,
        args: &[&str],
    ) -> Result<Edge, EdgeFailure> {
        Edge::launch(tessera, service_token, args, &[]).await
    }

    async fn launch(
        tessera: &str,
        service_token: &str,
        args: &[&str],
        env: &[(&str, &str)],
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
            .envs(env.iter().copied())
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
