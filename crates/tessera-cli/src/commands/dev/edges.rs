//! `tessera dev --edges`: the HTTP edge in front of its demo web app and the line-protocol edge in
//! front of the demo job scheduler, started beside the server with the dev service token, so one
//! command shows every way in. The edge binaries are looked up next to this one (a `cargo build`
//! of the workspace puts them there).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

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
