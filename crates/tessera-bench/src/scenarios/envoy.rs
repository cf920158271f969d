//! Envoy's external authorization against the same Envoy without it: requests through Envoy to a
//! bare upstream, one Envoy whose ext_authz filter asks the HTTP edge's Check (the shipped
//! `deploy/envoy/envoy.yaml`), one with the filter taken out, driven by the same HTTP/1.1
//! keep-alive generator, rounds interleaved. The ratio is what putting Tessera in a mesh's request
//! path costs. The edge's CPU per Check is set against the server's CPU per cached Introspect
//! (both a gRPC call answered from a cache), measured in the same rounds.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::Mutex,
};

use super::edge::{edge_binary, http_call, Edge, HttpConnection};
use super::{list, median, per_second, ratio_row, Bench, REPLICA_A_THREADS};
use crate::{
    cpu::{process_cpu, CpuTimes},
    load::closed_loop,
    report::rate,
};

/// The shipped configuration, relative to the workspace.
const CONFIG: &str = "deploy/envoy/envoy.yaml";
/// Where its ext_authz filter starts and where the filter after it starts.
const FILTER_START: &str = "          - name: envoy.filters.http.ext_authz\n";
const FILTER_END: &str = "          - name: envoy.filters.http.router\n";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `.tools/bin/envoy` (install-tools puts it there), else `envoy` on the PATH.
fn envoy_binary() -> anyhow::Result<PathBuf> {
    let tools = workspace().join(".tools/bin/envoy");
    if tools.is_file() {
        return Ok(tools);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("envoy"))
                .find(|candidate| candidate.is_file())
        })
        .context("envoy is not installed (scripts/install-tools.sh installs it)")
}

/// The shipped configuration with its ports and token filled in; without the ext_authz filter
/// when `authorize` is false.
fn render(ports: (u16, u16, u16), token: &str, authorize: bool) -> anyhow::Result<String> {
    let (listen, edge, upstream) = ports;
    let mut text = std::fs::read_to_string(workspace().join(CONFIG)).context(CONFIG)?;
    for (from, to) in [
        ("port_value: 10000", format!("port_value: {listen}")),
        ("port_value: 8080", format!("port_value: {edge}")),
        ("port_value: 8081", format!("port_value: {upstream}")),
        ("TESSERA_SERVICE_TOKEN", token.to_owned()),
    ] {
        anyhow::ensure!(text.contains(from), "{CONFIG} has no {from:?}");
        text = text.replace(from, &to);
    }
    if !authorize {
        let start = text.find(FILTER_START).context("no ext_authz filter")?;
        let end = text.find(FILTER_END).context("no router filter")?;
        text.replace_range(start..end, "");
    }
    Ok(text)
}

/// A running Envoy, stopped on drop.
struct Envoy {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Envoy {
    async fn start(binary: &PathBuf, config: String, port: u16) -> anyhow::Result<Envoy> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("envoy.yaml");
        std::fs::write(&path, config)?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&path)
            .args(["--use-dynamic-base-id", "--concurrency", "1"])
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting envoy")?;
        let mut envoy = Envoy { child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Some(status) = envoy.child.try_wait()? {
                bail!("envoy exited at start: {status}");
            }
            if Instant::now() > deadline {
                bail!("envoy did not listen within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(envoy)
    }
}

/// Envoy's release (`1.40.0`), from `envoy --version`.
fn envoy_version(binary: &PathBuf) -> String {
    let output = Command::new(binary).arg("--version").output();
    let text = output
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.split_once("version: ")
        .and_then(|(_, rest)| rest.split('/').nth(1))
        .unwrap_or("?")
        .to_owned()
}

/// A free loopback port.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A bare keep-alive upstream answering every request `200 ok`: the cheapest service to stand
/// behind Envoy, so the ratio shows the authorization, not the app.
async fn bare_upstream() -> anyhow::Result<(u16, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::with_capacity(4096);
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        buffer.drain(..at + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                    }
                }
            });
        }
    });
    Ok((port, task))
}

impl Bench {
    /// Through Envoy with ext_authz against the same Envoy without it.
    pub(super) async fn envoy(&mut self) -> anyhow::Result<()> {
        let binaries =
            envoy_binary().and_then(|envoy| Ok((envoy, edge_binary(self.options.smoke)?)));
        let (envoy_bin, edge_bin) = match tokio::task::block_in_place(|| binaries) {
            Ok(found) => found,
            Err(err) => {
                self.not_run("Envoy ext_authz rows", &err);
                return Ok(());
            }
        };
        let edge = Edge::start(&edge_bin, &self.a.url(), &self.caller_token, &[]).await?;
        let (upstream, upstream_task) = bare_upstream().await?;
        let (with_port, without_port) = (free_port()?, free_port()?);
        let ports = |listen| (listen, edge.addr.port(), upstream);
        let with = Envoy::start(
            &envoy_bin,
            render(ports(with_port), &self.caller_token, true)?,
            with_port,
        )
        .await?;
        let without = Envoy::start(
            &envoy_bin,
            render(ports(without_port), &self.caller_token, false)?,
            without_port,
        )
        .await?;
        let n = self.options.concurrency;
        let open = |port: u16, count: usize| async move {
            let mut connections = Vec::with_capacity(count);
            for _ in 0..count {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                connections.push(Mutex::new(HttpConnection::open(addr).await?));
            }
            anyhow::Ok(Arc::new(connections))
        };
        let (through, bare, direct) = (
            open(with_port, n).await?,
            open(without_port, n).await?,
            open(edge.addr.port(), n).await?,
        );
        let request = |path: &str, extra: &str| {
            Arc::new(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: app\r\nAuthorization: Bearer {}\r\n{extra}\r\n",
                    self.hot
                )
                .into_bytes(),
            )
        };
        let app = request("/app", "");
        let verify = request(
            "/auth/verify",
            "X-Original-Method: GET\r\nX-Original-URI: /app\r\n",
        );
        let (phase, warmup) = (self.options.phase, self.options.warmup);
        for (what, connections, call) in [
            ("through Envoy with ext_authz", &through, &app),
            ("through Envoy without ext_authz", &bare, &app),
            ("edge /auth/verify", &direct, &verify),
        ] {
            self.checked(
                what,
                &closed_loop(n, warmup, http_call(connections, call)).await,
            )?;
        }
        self.checked(
            "cached Introspect",
            &closed_loop(n, warmup, self.closed_introspect(&self.on_a)).await,
        )?;
        let pid = edge.child.id();
        let (mut introspect_cpu, mut introspected) = (Duration::ZERO, 0u64);
        let (with_pid, without_pid) = (with.child.id(), without.child.id());
        let (mut with_envoy_cpu, mut without_envoy_cpu, mut bared) =
            (Duration::ZERO, Duration::ZERO, 0u64);
        let (mut withs, mut withouts, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut check_cpu, mut checked, mut verify_cpu, mut verified) =
            (Duration::ZERO, 0u64, Duration::ZERO, 0u64);
        for _ in 0..self.options.rounds {
            let without_before = process_cpu(without_pid);
            let b = closed_loop(n, phase, http_call(&bare, &app)).await;
            self.checked("through Envoy without ext_authz", &b)?;
            without_envoy_cpu += process_cpu(without_pid).saturating_sub(without_before);
            bared += b.ok.len();
            let (before, with_before) = (process_cpu(pid), process_cpu(with_pid));
            let w = closed_loop(n, phase, http_call(&through, &app)).await;
            self.checked("through Envoy with ext_authz", &w)?;
            let middle = process_cpu(pid);
            with_envoy_cpu += process_cpu(with_pid).saturating_sub(with_before);
            let v = closed_loop(n, phase, http_call(&direct, &verify)).await;
            self.checked("edge /auth/verify", &v)?;
            let replica_before = CpuTimes::now(REPLICA_A_THREADS);
            let i = closed_loop(n, phase, self.closed_introspect(&self.on_a)).await;
            self.checked("cached Introspect", &i)?;
            introspect_cpu += CpuTimes::now(REPLICA_A_THREADS)
                .since(&replica_before)
                .replica;
            introspected += i.ok.len();
            check_cpu += middle.saturating_sub(before);
            verify_cpu += process_cpu(pid).saturating_sub(middle);
            checked += w.ok.len();
            verified += v.ok.len();
            withs.push(w.throughput());
            withouts.push(b.throughput());
            ratios.push(w.throughput() / b.throughput());
        }
        drop((with, without, edge));
        upstream_task.abort();
        let version = envoy_version(&envoy_bin);
        self.rows.push(ratio_row(
            &format!("Envoy {version} with ext_authz (gRPC Check to the HTTP edge, decision cache on) / the same Envoy without it (same HTTP/1.1 generator, {n} connections, bare upstream)"),
            format!("without {}", rate(median(&withouts))),
            rate(median(&withs)),
            median(&ratios),
            Some(0.6),
            None,
        ));
        let per = |cpu: Duration, count: u64| cpu.as_secs_f64() * 1e6 / count.max(1) as f64;
        let (per_check, per_verify) = (per(check_cpu, checked), per(verify_cpu, verified));
        let per_introspect = per(introspect_cpu, introspected);
        self.rows.push(ratio_row(
            &format!("Tessera's CPU per Envoy Check (the HTTP edge process) / per cached Introspect (replica A's threads), same rounds, {n} in flight"),
            format!("Introspect {per_introspect:.0} µs"),
            format!("Check {per_check:.0} µs"),
            per_check / per_introspect.max(f64::MIN_POSITIVE),
            None,
            Some(1.3),
        ));
        self.details.push(format!(
            "Envoy {version} per round (requests/s): without ext_authz [{}]; with ext_authz [{}]; Envoy's own CPU per request: without ext_authz {:.0} µs, with it {:.0} µs; the edge's CPU per Check {per_check:.0} µs, per cached /auth/verify (HTTP/1.1) {per_verify:.0} µs",
            list(&withouts, per_second),
            list(&withs, per_second),
            per(without_envoy_cpu, bared),
            per(with_envoy_cpu, checked),
        ));
        Ok(())
    }
}
