//! The test harness every Rust suite of the workspace shares: it finds the workspace's binaries
//! by name ([`binary`]), starts the real `tessera dev` (embedded PostgreSQL and all) in a temporary
//! directory and waits for its ready file ([`DevServer`], [`shared`]), stops it with SIGTERM so its
//! PostgreSQL stops too (and, through a watchdog, when a test process ends without dropping it),
//! and brings the pieces end-to-end tests need: replicas of `tessera serve` and PgBouncer
//! ([`cluster`]), an OTLP receiver ([`otlp`]), a private PKI ([`pki`]), process probes.
//!
//! Suites that need only a database use tessera-store's `testing` module instead.

pub mod cluster;
mod dev;
pub mod otlp;
pub mod pki;
pub mod proxy;
pub mod rotation;
pub mod server;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use tonic::{metadata::MetadataValue, transport::Channel, Request};

pub use dev::{shared, temp_dir, DevServer, Ready, DEV_START_DEADLINE, DEV_STOP_DEADLINE};

/// The workspace root (where `Cargo.lock` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The directory cargo puts the workspace's binaries in: the one holding the running test binary
/// (`target/<profile>/deps/<test>` → `target/<profile>`), else `$CARGO_TARGET_DIR/debug`, else
/// `<workspace>/target/debug`.
pub fn bin_dir() -> PathBuf {
    let beside_me = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        let dir = if dir.ends_with("deps") {
            dir.parent()?
        } else {
            dir
        };
        Some(dir.to_path_buf())
    });
    if let Some(dir) = beside_me.filter(|dir| dir.join("tessera").is_file()) {
        return dir;
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("debug")
}

/// A binary of this workspace, found by name (never by the package that builds it):
/// `$TESSERA_BIN` for `tessera`, else [`bin_dir`]`/<name>`. Fails with how to build it when it is
/// missing.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    if name == "tessera" {
        if let Some(path) = std::env::var_os("TESSERA_BIN") {
            return Ok(PathBuf::from(path));
        }
    }
    let path = bin_dir().join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: run `cargo build --bin {name}` first{}",
        path.display(),
        if name == "tessera" {
            " (or set TESSERA_BIN)"
        } else {
            ""
        }
    );
    Ok(path)
}

/// Runs `command` with `stdin` written to its standard input, capturing its output. A failure
/// names only the program (its arguments and environment may hold test credentials).
pub fn run_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let program = Path::new(command.get_program()).display().to_string();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {program}: {error}"));
    let written = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes());
    // A program that exits without reading its input closes the pipe: its output tells the rest.
    if let Err(error) = written {
        assert!(
            error.kind() == std::io::ErrorKind::BrokenPipe,
            "writing to {program}: {error}"
        );
    }
    child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("waiting for {program}: {error}"))
}

/// Polls `child` until it exits (`Some`) or `within` passes (`None`).
pub(crate) fn wait_child(
    child: &mut Child,
    within: Duration,
) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port nothing listens on (bound once, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
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
