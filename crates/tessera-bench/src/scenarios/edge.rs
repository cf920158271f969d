//! The HTTP edge's forward-auth (`/auth/verify`, as nginx's `auth_request` sends it) against the
//! edge's own ping, both driven by the same HTTP/1.1 keep-alive load generator, interleaved: the
//! ratio is what checking a token costs an HTTP service on top of the edge's bare HTTP path.
//! Two edges run side by side: one with its decision cache (the default, following the
//! revocation feed), one with `--decision-cache-ttl 0`, where every `/auth/verify` calls
//! Introspect.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Mutex,
};
use tonic::Status;

use super::{list, median, per_second, ratio_row, Bench, CallFuture};
use crate::{
    cpu::process_cpu,
    load::closed_loop,
    report::{rate, GoalVerdict, Row},
};

/// Longest an HTTP response head may be.
const MAX_HEAD: usize = 16 * 1024;

/// The edge binary beside this one (`target/<profile>/`), built first by cargo so a stale one is
/// never measured. A smoke run takes the one there is rather than build (it proves the scenario
/// runs, not the figure).
pub(super) fn edge_binary(smoke: bool) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let mut dir = exe.parent().context("bench binary has no directory")?;
    if dir.ends_with("deps") {
        dir = dir.parent().context("deps has no parent")?;
    }
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    let binary = dir.join("tessera-edge-http");
    if smoke {
        anyhow::ensure!(
            binary.is_file(),
            "{} is missing: build it first (cargo build -p tessera-edge-http)",
            binary.display()
        );
        return Ok(binary);
    }
    let target = dir.parent().context("profile directory has no parent")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "tessera-edge-http",
            "--bin",
            "tessera-edge-http",
        ])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        build.arg("--release");
    }
    let built = build.output().context("running cargo build")?;
    if !built.status.success() {
        bail!(
            "cargo build -p tessera-edge-http: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    }
    Ok(binary)
}

/// A running edge, stopped on drop.
pub(super) struct Edge {
    pub(super) child: Child,
    pub(super) addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Edge {
    pub(super) async fn start(
        binary: &Path,
        tessera: &str,
        service_token: &str,
        extra: &[&str],
    ) -> anyhow::Result<Edge> {
        let dir = tempfile::tempdir()?;
        let token_file = dir.path().join("service-token");
        std::fs::write(&token_file, format!("{service_token}\n"))?;
        let ready = dir.path().join("ready.json");
        let child = Command::new(binary)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tessera",
                tessera,
                "--front-proxy",
                "nginx",
            ])
            .arg("--service-token-file")
            .arg(&token_file)
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tessera-edge-http")?;
        let mut edge = Edge {
            child,
            addr: "127.0.0.1:0".parse()?,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if let Ok(info) = serde_json::from_str::<serde_json::Value>(&text) {
                    if let Some(addr) = info["listen_addr"].as_str() {
                        edge.addr = addr.parse()?;
                        return Ok(edge);
                    }
                }
            }
            if let Some(status) = edge.child.try_wait()? {
                bail!("tessera-edge-http exited at start: {status}");
            }
            if Instant::now() > deadline {
                bail!("tessera-edge-http not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One keep-alive HTTP/1.1 connection that sends one fixed request and reads its answer.
pub(super) struct HttpConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl HttpConnection {
    pub(super) async fn open(addr: std::net::SocketAddr) -> anyhow::Result<HttpConnection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConnection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends `request` and returns the status; the body is read and dropped.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        let invalid =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let head_end = loop {
            if let Some(at) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(invalid("response head too long"));
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).map_err(|_| invalid("head"))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("status line"))?;
        let mut length = 0usize;
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value
                        .trim()
                        .parse()
                        .map_err(|_| invalid("content-length"))?;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(invalid("chunked answers are not expected here"));
                }
            }
        }
        while self.buffer.len() < head_end + length {
            self.fill().await?;
        }
        self.buffer.drain(..head_end + length);
        Ok(status)
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

/// A closed-loop call over worker `w`'s own connection, expecting 200.
pub(super) fn http_call(
    connections: &Arc<Vec<Mutex<HttpConnection>>>,
    request: &Arc<Vec<u8>>,
) -> impl Fn(usize, u64) -> Option<CallFuture> + Send + Sync + 'static {
    let (connections, request) = (Arc::clone(connections), Arc::clone(request));
    move |worker, _| {
        let (connections, request) = (Arc::clone(&connections), Arc::clone(&request));
        Some(Box::pin(async move {
            let mut connection = connections[worker % connections.len()].lock().await;
            match connection.exchange(&request).await {
                Ok(200) => Ok(()),
                Ok(status) => Err(Status::unknown(format!("HTTP {status}"))),
                Err(err) => Err(Status::unavailable(err.to_string())),
            }
        }) as CallFuture)
    }
}

impl Bench {
    /// `/auth/verify` of the hot token against `/api/v1/public/ping`, same generator.
    pub(super) async fn edge(&mut self) -> anyhow::Result<()> {
        let smoke = self.options.smoke;
        let binary = match tokio::task::block_in_place(|| edge_binary(smoke)) {
            Ok(binary) => binary,
            Err(err) => {
                self.rows.push(Row {
                    scenario: "HTTP edge rows".into(),
                    baseline: String::new(),
                    target: String::new(),
                    result: format!("not run: {err:#}"),
                    goal: String::new(),
                    verdict: GoalVerdict::Info,
                });
                return Ok(());
            }
        };
        let edge = Edge::start(&binary, &self.a.url(), &self.caller_token, &[]).await?;
        let uncached = Edge::start(
            &binary,
            &self.a.url(),
            &self.caller_token,
            &["--decision-cache-ttl", "0"],
        )
        .await?;
        // The same requests under a namespace rule: with the token's answer cached, the edge
        // decides the namespace itself (no CheckNamespace).
        let ruled = Edge::start(
            &binary,
            &self.a.url(),
            &self.caller_token,
            &["--namespace-rule", "/jobs/{id}"],
        )
        .await?;
        let n = self.options.concurrency;
        let (mut connections, mut uncached_connections, mut ruled_connections) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for _ in 0..n {
            connections.push(Mutex::new(HttpConnection::open(edge.addr).await?));
            uncached_connections.push(Mutex::new(HttpConnection::open(uncached.addr).await?));
            ruled_connections.push(Mutex::new(HttpConnection::open(ruled.addr).await?));
        }
        let connections = Arc::new(connections);
        let uncached_connections = Arc::new(uncached_connections);
        let ruled_connections = Arc::new(ruled_connections);
        let ping = Arc::new(
            format!(
                "GET /api/v1/public/ping HTTP/1.1\r\nHost: {}\r\n\r\n",
                edge.addr
            )
            .into_bytes(),
        );
        let verify_request = |addr: std::net::SocketAddr| {
            Arc::new(
                format!(
                    "GET /auth/verify HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
                     X-Original-Method: GET\r\nX-Original-URI: /jobs/deploy.daily\r\n\r\n",
                    self.hot
                )
                .into_bytes(),
            )
        };
        let verify = verify_request(edge.addr);
        let verify_uncached = verify_request(uncached.addr);
        let verify_ruled = verify_request(ruled.addr);
        let (phase, warmup) = (self.options.phase, self.options.warmup);
        self.checked(
            "edge ping",
            &closed_loop(n, warmup, http_call(&connections, &ping)).await,
        )?;
        self.checked(
            "edge /auth/verify",
            &closed_loop(n, warmup, http_call(&connections, &verify)).await,
        )?;
        self.checked(
            "edge /auth/verify, no cache",
            &closed_loop(
                n,
                warmup,
                http_call(&uncached_connections, &verify_uncached),
            )
            .await,
        )?;
        self.checked(
            "edge /auth/verify, namespace rule",
            &closed_loop(n, warmup, http_call(&ruled_connections, &verify_ruled)).await,
        )?;
        let (mut pings, mut verifies, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ruled_verifies, mut ruled_ratios) = (Vec::new(), Vec::new());
        let (mut plain_verifies, mut plain_ratios) = (Vec::new(), Vec::new());
        let (mut edge_cpu, mut verified) = (Duration::ZERO, 0u64);
        let (mut ping_cpu, mut pinged) = (Duration::ZERO, 0u64);
        let (mut plain_cpu, mut plain_verified) = (Duration::ZERO, 0u64);
        let (pid, plain_pid) = (edge.child.id(), uncached.child.id());
        for _ in 0..self.options.rounds {
            let before = process_cpu(pid);
            let p = closed_loop(n, phase, http_call(&connections, &ping)).await;
            self.checked("edge ping", &p)?;
            let middle = process_cpu(pid);
            let v = closed_loop(n, phase, http_call(&connections, &verify)).await;
            self.checked("edge /auth/verify", &v)?;
            ping_cpu += middle.saturating_sub(before);
            edge_cpu += process_cpu(pid).saturating_sub(middle);
            let plain_before = process_cpu(plain_pid);
            let u = closed_loop(n, phase, http_call(&uncached_connections, &verify_uncached)).await;
            self.checked("edge /auth/verify, no cache", &u)?;
            plain_cpu += process_cpu(plain_pid).saturating_sub(plain_before);
            let r = closed_loop(n, phase, http_call(&ruled_connections, &verify_ruled)).await;
            self.checked("edge /auth/verify, namespace rule", &r)?;
            ruled_verifies.push(r.throughput());
            ruled_ratios.push(r.throughput() / p.throughput());
            pinged += p.ok.len();
            verified += v.ok.len();
            plain_verified += u.ok.len();
            pings.push(p.throughput());
            verifies.push(v.throughput());
            plain_verifies.push(u.throughput());
            ratios.push(v.throughput() / p.throughput());
            plain_ratios.push(u.throughput() / p.throughput());
        }
        drop(ruled);
        drop(uncached);
        drop(edge);
        self.rows.push(ratio_row(
            &format!("HTTP forward-auth /auth/verify / edge ping (same HTTP/1.1 generator, {n} connections, decision cache on)"),
            format!("ping {}", rate(median(&pings))),
            rate(median(&verifies)),
            median(&ratios),
            Some(0.5),
            None,
        ));
        self.rows.push(ratio_row(
            &format!("HTTP forward-auth /auth/verify / edge ping, --decision-cache-ttl 0 (every request calls Introspect, {n} connections)"),
            format!("ping {}", rate(median(&pings))),
            rate(median(&plain_verifies)),
            median(&plain_ratios),
            None,
            None,
        ));
        self.rows.push(ratio_row(
            &format!("HTTP forward-auth /auth/verify on a --namespace-rule path / edge ping (decision cache on: the edge decides the namespace, {n} connections)"),
            format!("ping {}", rate(median(&pings))),
            rate(median(&ruled_verifies)),
            median(&ruled_ratios),
            None,
            None,
        ));
        let per = |cpu: Duration, count: u64| cpu.as_secs_f64() * 1e6 / count.max(1) as f64;
        self.details.push(format!(
            "HTTP edge per round (requests/s): ping [{}]; /auth/verify cached [{}]; /auth/verify uncached [{}]; /auth/verify under a namespace rule [{}]; edge process CPU per request: ping {:.0} µs, /auth/verify cached {:.0} µs, uncached {:.0} µs",
            list(&pings, per_second),
            list(&verifies, per_second),
            list(&plain_verifies, per_second),
            list(&ruled_verifies, per_second),
            per(ping_cpu, pinged),
            per(edge_cpu, verified),
            per(plain_cpu, plain_verified),
        ));
        Ok(())
    }
}
