//! `tessera dev --edges`: the HTTP edge in front of its demo web app and the line-protocol edge in
//! front of the demo job scheduler, started beside the server with the dev service token, so one
//! command shows every way in; when Envoy is installed, Envoy too, in front of the same demo app,
//! asking the HTTP edge through ext_authz. The edge binaries are looked up next to this one (a `cargo build`
//! of the workspace puts them there).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use std::os::unix::fs::OpenOptionsExt as _;

use anyhow::{bail, Context as _};
use tokio::process::Child;

use crate::cli::EdgeArgs;

/// The running edges; stopped by [`Edges::stop`] (or killed when dropped). They share one
/// process group (stopped together, and apart from the terminal's Ctrl-C, which reaches `tessera
/// dev` alone so it stops them in order) and each gets SIGTERM should `tessera dev` die.
pub struct Edges {
    children: Vec<Child>,
    /// The edges' process group (the first child's pid), once one runs.
    group: Option<i32>,
    /// The HTTP edge's address.
    pub http: String,
    /// The line edge's address.
    pub line: String,
    /// The demo scheduler's address.
    pub demo: String,
    /// Envoy's address, when Envoy is installed and runs in front of the demo web app.
    pub envoy: Option<String>,
    /// Where their logs go.
    pub logs: PathBuf,
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating the tessera binary")?;
    let path = me.with_file_name(name);
    if !path.is_file() {
        bail!(
            "--edges needs {} next to tessera; build it with `cargo build -p tessera-edge-http -p tessera-edge-line` (scripts/dev.sh does)",
            path.display()
        );
    }
    Ok(path)
}

/// Waits for `child` to write its ready file; returns the `listen_addr` it reports.
async fn ready(child: &mut Child, file: &Path, what: &str, log: &Path) -> anyhow::Result<String> {
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
                return Ok(value["listen_addr"].as_str().unwrap_or_default().to_owned());
            }
        }
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            bail!(
                "{what} exited ({status}) before it was ready; its log ({}):\n{}",
                log.display(),
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{what} was not ready within 60 s; see {}", log.display())
}

/// Starts the dev stack's processes, each with its ready file and log in one folder, tied to
/// this process (they stop when it dies) and holding the dev service token.
struct Launcher<'a> {
    run: PathBuf,
    service_token: &'a str,
}

impl Launcher<'_> {
    /// Starts `bin` (in process group `group`, or a new one) and waits until it is ready; the
    /// child and the address its ready file names.
    async fn launch(
        &self,
        bin: &Path,
        name: &str,
        args: Vec<String>,
        group: Option<i32>,
    ) -> anyhow::Result<(Child, String)> {
        let ready_file = self.run.join(format!("{name}.ready.json"));
        let log = self.run.join(format!("{name}.log"));
        let _ = std::fs::remove_file(&ready_file);
        let out = std::fs::File::create(&log)?;
        let mut child = tessera_store::embedded::tied_command(bin, "TERM")
            .args(args)
            .process_group(group.unwrap_or(0))
            .arg("--ready-file")
            .arg(&ready_file)
            .env("TESSERA_SERVICE_TOKEN", self.service_token)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let what = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_owned());
        let address = ready(&mut child, &ready_file, &what, &log).await?;
        Ok((child, address))
    }
}

/// The shipped Envoy configuration (`deploy/envoy/envoy.yaml`, gRPC ext_authz to the HTTP edge),
/// filled in with the dev stack's addresses and service token.
const ENVOY_CONFIG: &str = include_str!("../../../../../deploy/envoy/envoy.yaml");

/// The checkout's `.tools/bin/envoy` (beside `target/<profile>/tessera`), else `envoy` on PATH.
fn envoy_binary() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let in_checkout = me
        .ancestors()
        .nth(3)
        .map(|root| root.join(".tools/bin/envoy"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    in_checkout
        .into_iter()
        .chain(std::env::split_paths(&path).map(|dir| dir.join("envoy")))
        .find(|candidate| candidate.is_file())
}

/// The shipped configuration with Envoy on `listen`, asking the edge on `edge` and forwarding to
/// `app`, with `token` as its credential.
fn envoy_config(listen: SocketAddr, edge: &str, app: &str, token: &str) -> anyhow::Result<String> {
    let port = |address: &str| -> anyhow::Result<String> {
        let parsed: SocketAddr = address
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("{address:?} is not host:port"))?;
        Ok(parsed.port().to_string())
    };
    let mut text = ENVOY_CONFIG.to_owned();
    for (from, to) in [
        (
            "address: 127.0.0.1, port_value: 10000",
            format!("address: {}, port_value: {}", listen.ip(), listen.port()),
        ),
        ("port_value: 8080", format!("port_value: {}", port(edge)?)),
        ("port_value: 8081", format!("port_value: {}", port(app)?)),
        ("Bearer TESSERA_SERVICE_TOKEN", format!("Bearer {token}")),
    ] {
        if !text.contains(from) {
            bail!("deploy/envoy/envoy.yaml no longer has {from:?}");
        }
        text = text.replace(from, &to);
    }
    Ok(text)
}

impl Launcher<'_> {
    /// Starts Envoy in front of the demo web app (the HTTP edge's upstream), asking the edge, and
    /// waits until it listens.
    async fn envoy(
        &self,
        binary: &Path,
        args: &EdgeArgs,
        edges: &Edges,
        group: Option<i32>,
    ) -> anyhow::Result<Child> {
        let ready = std::fs::read_to_string(self.run.join("http-edge.ready.json"))?;
        let ready: serde_json::Value = serde_json::from_str(&ready)?;
        let app = ready["upstream"]
            .as_str()
            .context("the HTTP edge named no upstream")?;
        let config = envoy_config(args.envoy_listen, &edges.http, app, self.service_token)?;
        let path = self.run.join("envoy.yaml");
        // It holds the service token: readable by this user alone.
        let _ = std::fs::remove_file(&path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, config.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
        let log = self.run.join("envoy.log");
        let out = std::fs::File::create(&log)?;
        let mut child = tessera_store::embedded::tied_command(binary, "TERM")
            .arg("-c")
            .arg(&path)
            .args(["--use-dynamic-base-id", "--log-level", "warn"])
            .process_group(group.unwrap_or(0))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        for _ in 0..300 {
            if let Some(status) = child.try_wait()? {
                bail!("envoy exited ({status}); see {}", log.display());
            }
            if tokio::net::TcpStream::connect(args.envoy_listen)
                .await
                .is_ok()
            {
                return Ok(child);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.start_kill();
        bail!(
            "envoy did not listen on {} within 30 s; see {}",
            args.envoy_listen,
            log.display()
        )
    }
}

impl Edges {
    /// Starts the demo scheduler, the line edge and the HTTP edge against `grpc_addr`.
    pub async fn start(
        args: &EdgeArgs,
        grpc_addr: SocketAddr,
        service_token: &str,
        data_dir: &Path,
    ) -> anyhow::Result<Edges> {
        let run = data_dir.join("edges");
        std::fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
        let launcher = Launcher {
            run: run.clone(),
            service_token,
        };
        let tessera = format!("http://{grpc_addr}");
        let mut edges = Edges {
            children: Vec::new(),
            group: None,
            http: String::new(),
            line: String::new(),
            demo: String::new(),
            envoy: None,
            logs: run,
        };
        let listen = |address: SocketAddr| vec!["--listen".to_owned(), address.to_string()];
        let (demo, address) = launcher
            .launch(
                &sibling("tessera-line-demo")?,
                "line-demo",
                listen(args.line_demo_listen),
                None,
            )
            .await?;
        edges.group = demo.id().and_then(|pid| i32::try_from(pid).ok());
        edges.demo = address;
        edges.children.push(demo);

        let mut line_args = vec!["--tessera".into(), tessera.clone()];
        line_args.extend(["--upstream".into(), edges.demo.clone()]);
        line_args.extend(listen(args.line_edge_listen));
        let (line, address) = launcher
            .launch(
                &sibling("tessera-edge-line")?,
                "line-edge",
                line_args,
                edges.group,
            )
            .await?;
        edges.line = address;
        edges.children.push(line);

        let mut http_args = vec!["--tessera".into(), tessera];
        http_args.extend(["--demo-upstream".into(), "--insecure-dev-http".into()]);
        http_args.extend(listen(args.http_edge_listen));
        let (http, address) = launcher
            .launch(
                &sibling("tessera-edge-http")?,
                "http-edge",
                http_args,
                edges.group,
            )
            .await?;
        edges.http = address;
        edges.children.push(http);
        if let Some(binary) = envoy_binary() {
            match launcher.envoy(&binary, args, &edges, edges.group).await {
                Ok(envoy) => {
                    edges.envoy = Some(args.envoy_listen.to_string());
                    edges.children.push(envoy);
                }
                Err(err) => eprintln!("tessera dev: Envoy not started: {err:#}"),
            }
        }
        Ok(edges)
    }

    /// Stops every edge (SIGTERM to the group, SIGKILL after a grace) and waits for it.
    pub async fn stop(mut self) {
        if let Some(group) = self.group {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(group),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        for child in self.children.iter_mut().rev() {
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}
