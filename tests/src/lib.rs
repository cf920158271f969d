//! End-to-end harness: starts the real `tessera dev` binary (embedded PostgreSQL and all) in a
//! temporary data directory, waits for its ready file, and hands out connected clients. Dropping
//! the harness stops the process with SIGTERM, which also stops its PostgreSQL.

pub mod cluster;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub mod otlp;

use anyhow::{bail, Context};
use serde::Deserialize;
use tessera_proto::v1::auth_service_client::AuthServiceClient;
use tonic::{metadata::MetadataValue, transport::Channel, Request};

/// What `tessera dev --ready-file` reports.
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    /// gRPC address.
    pub grpc_addr: String,
    /// The embedded database.
    pub database_url: String,
    /// Dev admin login.
    pub admin_username: String,
    /// Dev admin password.
    pub admin_password: String,
    /// A session token of the dev admin.
    pub admin_token: String,
    /// A service token holding only `introspect`.
    pub service_token: String,
    /// The `tessera dev` process.
    pub pid: u32,
}

/// The workspace root (where `Cargo.lock` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// A binary of this workspace: `$TESSERA_BIN` for `tessera`, else `target/debug/<name>`.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    if name == "tessera" {
        if let Ok(path) = std::env::var("TESSERA_BIN") {
            return Ok(PathBuf::from(path));
        }
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    let path = target.join("debug").join(name);
    if !path.exists() {
        bail!(
            "{} is missing: run `cargo build --workspace` first",
            path.display()
        );
    }
    Ok(path)
}

/// A running `tessera dev`.
pub struct DevServer {
    child: Child,
    /// Its connection details.
    pub ready: Ready,
    /// Its data directory (removed on drop).
    pub data_dir: tempfile::TempDir,
}

impl DevServer {
    /// Starts `tessera dev` with extra environment variables and waits until it is ready.
    pub fn start(envs: &[(&str, &str)]) -> anyhow::Result<DevServer> {
        let data_dir = tempfile::Builder::new()
            .prefix("tessera-e2e-")
            .tempdir_in("/tmp")?;
        DevServer::start_in(data_dir, &[], envs)
    }

    /// Starts `tessera dev` with its data in `<dir>/data`, extra arguments and environment
    /// variables, and waits until it is ready (`dir` is removed on drop).
    pub fn start_in(
        dir: tempfile::TempDir,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> anyhow::Result<DevServer> {
        let data_dir = dir;
        let ready_file = data_dir.path().join("ready.json");
        // A previous run's file would read as ready at once.
        let _ = std::fs::remove_file(&ready_file);
        let log = std::fs::File::create(data_dir.path().join("tessera.log"))?;
        let mut command = Command::new(binary("tessera")?);
        command
            .arg("dev")
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--ready-file")
            .arg(&ready_file)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().context("spawning tessera dev")?;
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                let ready: Ready = serde_json::from_str(&text)?;
                return Ok(DevServer {
                    child,
                    ready,
                    data_dir,
                });
            }
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(data_dir.path().join("tessera.log"))
                    .unwrap_or_default();
                bail!("tessera dev exited with {status} before it was ready:\n{log}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("tessera dev was not ready within 90 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data dir given to `tessera dev`.
    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    /// Sends `signal` to the `tessera dev` process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, signal);
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("tessera dev still running after {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("tessera.log")).unwrap_or_default()
    }

    /// A connected client.
    pub async fn client(&self) -> anyhow::Result<AuthServiceClient<Channel>> {
        let channel = Channel::from_shared(format!("http://{}", self.ready.grpc_addr))?
            .connect()
            .await?;
        Ok(AuthServiceClient::new(channel))
    }

    /// Stops the server with SIGTERM and waits for it (and its PostgreSQL) to exit.
    pub fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("tessera dev ignored SIGTERM for 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.stop();
        }
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("ascii token"),
    );
    request
}

/// `grpcurl`, from PATH or the repository's `.tools/bin` (scripts/install-tools.sh).
pub fn grpcurl() -> anyhow::Result<PathBuf> {
    let local = workspace_root().join(".tools/bin/grpcurl");
    if local.exists() {
        return Ok(local);
    }
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("grpcurl"))
                .find(|p| p.exists())
        })
        .unwrap_or(None);
    found.context("grpcurl not found: run scripts/install-tools.sh")
}

/// Pids of the processes (other than this one) that belong to a data dir: run inside it (postgres
/// and its backends have their data dir as working directory) or name it on their command line
/// (the postmaster's `-D`, the edges' `--ready-file`).
pub fn processes_of(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let proc_dir = PathBuf::from(format!("/proc/{pid}"));
            // A zombie is already gone; it only waits for its parent to read its status.
            let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
            if state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
            {
                return false;
            }
            let in_dir =
                std::fs::read_link(proc_dir.join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
            let names_dir = std::fs::read(proc_dir.join("cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&needle));
            in_dir || names_dir
        })
        .collect()
}

/// Polls until no process belongs to `dir` or `within` passes; returns the ones left.
pub fn wait_no_processes_of(dir: &Path, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_of(dir);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the server at `addr` reports SERVING for `tessera.v1.AuthService`.
pub async fn serving(addr: &str) -> anyhow::Result<bool> {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "tessera.v1.AuthService".into(),
        })
        .await?
        .into_inner()
        .status;
    Ok(status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
}
