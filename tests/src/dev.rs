//! `tessera dev` for a test: started in a temporary directory, ready once its ready file exists,
//! stopped with SIGTERM (which stops its PostgreSQL too) when dropped. A watchdog process stops it
//! as well when the test process ends without dropping it (a shared instance in a `static`, a
//! panic that aborts, a killed test run), so no `tessera dev` and no PostgreSQL outlives a test run.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use serde::Deserialize;
use tessera_proto::v1::auth_service_client::AuthServiceClient;
use tonic::transport::Channel;

use crate::{binary, wait_child};

/// How long `tessera dev` may take to be ready: initdb, migrations and argon2 hashing of the
/// bootstrap accounts, on a busy two-core machine.
pub const DEV_START_DEADLINE: Duration = Duration::from_secs(240);
/// How long `tessera dev` may take to stop after SIGTERM (draining, then PostgreSQL's shutdown)
/// before it is killed: generous, since a busy two-core machine runs many at once.
pub const DEV_STOP_DEADLINE: Duration = Duration::from_secs(60);

/// What `tessera dev --ready-file` reports.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Ready {
    /// gRPC address, `127.0.0.1:PORT`.
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

/// A running `tessera dev`.
pub struct DevServer {
    child: Child,
    /// Its connection details.
    pub ready: Ready,
    /// The directory holding its data dir (`data/`), ready file and log (removed on drop).
    pub data_dir: tempfile::TempDir,
    watchdog: Option<Watchdog>,
}

impl DevServer {
    /// Starts `tessera dev` with extra environment variables and waits until it is ready.
    pub fn start(envs: &[(&str, &str)]) -> anyhow::Result<DevServer> {
        DevServer::start_in(temp_dir("tessera-dev-")?, &[], envs)
    }

    /// Starts `tessera dev` with its data in `<dir>/data`, extra arguments and environment
    /// variables, and waits until it is ready (`dir` is removed on drop).
    pub fn start_in(
        dir: tempfile::TempDir,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> anyhow::Result<DevServer> {
        let ready_file = dir.path().join("ready.json");
        // A previous run's file would read as ready at once.
        let _ = std::fs::remove_file(&ready_file);
        let log_path = dir.path().join("tessera.log");
        let log = std::fs::File::create(&log_path)?;
        let bin = binary("tessera")?;
        let mut command = Command::new(&bin);
        command
            .arg("dev")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--ready-file")
            .arg(&ready_file)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {} dev", bin.display()))?;
        let watchdog = match Watchdog::start(child.id(), dir.path()) {
            Ok(watchdog) => watchdog,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        let mut dev = DevServer {
            child,
            ready: Ready::default(),
            data_dir: dir,
            watchdog: Some(watchdog),
        };
        // From here on, a failure drops `dev`, which stops the process and its PostgreSQL.
        let deadline = Instant::now() + DEV_START_DEADLINE;
        loop {
            // The file is written whole and then renamed into place, but a reader on another
            // file system may still see it half written: parse errors are retried.
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                if let Ok(ready) = serde_json::from_str::<Ready>(&text) {
                    dev.ready = ready;
                    return Ok(dev);
                }
            }
            if let Some(status) = dev.child.try_wait()? {
                bail!(
                    "tessera dev exited with {status} before it was ready:\n{}",
                    dev.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "tessera dev was not ready within {DEV_START_DEADLINE:?}:\n{}",
                    dev.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data dir given to `tessera dev` (`totp.key` and `pgdata/` live there).
    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    /// The gRPC address as a URI, `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.ready.grpc_addr)
    }

    /// Sends `signal` to the `tessera dev` process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, signal);
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let status = wait_child(&mut self.child, within)?
            .with_context(|| format!("tessera dev still running after {within:?}"))?;
        self.disarm_watchdog();
        Ok(status)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("tessera.log")).unwrap_or_default()
    }

    /// Waits until the log holds `needle` (the ready file is written before some start-up lines,
    /// and log lines reach the file a moment after the event); the log so far, or an error with
    /// its tail after `within`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return Ok(log);
            }
            if Instant::now() > deadline {
                bail!(
                    "{needle:?} not in the log within {within:?}:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last 4,000 characters of the log, for failure messages.
    fn log_tail(&self) -> String {
        let log = self.log();
        let start = log
            .char_indices()
            .rev()
            .nth(3999)
            .map_or(0, |(index, _)| index);
        log[start..].to_owned()
    }

    /// A connected client.
    pub async fn client(&self) -> anyhow::Result<AuthServiceClient<Channel>> {
        let channel = Channel::from_shared(self.uri())?.connect().await?;
        Ok(AuthServiceClient::new(channel))
    }

    /// Stops the server with SIGTERM and waits for it (and its PostgreSQL) to exit; kills it
    /// after [`DEV_STOP_DEADLINE`].
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            self.disarm_watchdog();
            return Ok(status);
        }
        self.signal(nix::sys::signal::Signal::SIGTERM);
        match wait_child(&mut self.child, DEV_STOP_DEADLINE)? {
            Some(status) => {
                self.disarm_watchdog();
                Ok(status)
            }
            None => {
                let log = self.log_tail();
                self.child.kill()?;
                self.child.wait()?;
                // The watchdog stops the PostgreSQL a killed `tessera dev` leaves behind (and
                // removes the directory, log included: it was read above).
                if let Some(watchdog) = self.watchdog.take() {
                    watchdog.finish("reaped");
                }
                bail!("tessera dev ignored SIGTERM for {DEV_STOP_DEADLINE:?}:\n{log}");
            }
        }
    }

    /// The process has exited and been reaped: the watchdog must not signal its pid again.
    fn disarm_watchdog(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.finish("disarm");
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A `tessera dev` (or a suite's wrapper of one) shared by every test of one test binary: started
/// on first use with `start`, stopped by its watchdog when the test process ends (a `static` is
/// never dropped). Panics (failing the calling test, and every later one with the same message)
/// when it cannot start.
///
/// ```ignore
/// static TESSERA: OnceLock<Result<DevServer, String>> = OnceLock::new();
/// let dev = tessera_harness::shared(&TESSERA, || DevServer::start(&[]));
/// ```
pub fn shared<T>(
    cell: &'static OnceLock<Result<T, String>>,
    start: impl FnOnce() -> anyhow::Result<T>,
) -> &'static T {
    match cell.get_or_init(|| start().map_err(|error| format!("{error:#}"))) {
        Ok(dev) => dev,
        Err(message) => panic!("the shared tessera dev did not start: {message}"),
    }
}

/// A temporary directory under `/tmp` (short paths: PostgreSQL's socket path has a length
/// limit) that an unprivileged PostgreSQL can enter (`tessera dev` drops to one when run as root).
pub fn temp_dir(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in("/tmp")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// A shell that waits on a pipe from this test process. Told `disarm` (the process exited and was
/// reaped cleanly), it exits. When the pipe closes without a word (the test process ended, however)
/// it stops `tessera dev` with SIGTERM, then SIGKILL; then, and when told `reaped` (killed and
/// reaped by the harness), it stops a PostgreSQL still running from the data dir and removes the
/// directory. It never signals a pid the harness has reaped (the pid may belong to another
/// process by then).
struct Watchdog {
    stdin: ChildStdin,
    child: Child,
}

const WATCHDOG: &str = r#"read -r word
[ "$word" = disarm ] && exit 0
if [ "$word" != reaped ]; then
  kill -TERM "$1" 2>/dev/null
  i=0
  while kill -0 "$1" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$1" 2>/dev/null
fi
pidfile="$TESSERA_HARNESS_DIR/data/pgdata/postmaster.pid"
pm=$(head -n 1 "$pidfile" 2>/dev/null)
if [ -n "$pm" ] && grep -q postgres "/proc/$pm/cmdline" 2>/dev/null; then
  kill -INT "$pm" 2>/dev/null
  i=0
  while [ -f "$pidfile" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
fi
rm -rf "$TESSERA_HARNESS_DIR""#;

impl Watchdog {
    fn start(pid: u32, dir: &Path) -> anyhow::Result<Watchdog> {
        // The directory goes in the environment, not the command line: tests look for processes
        // naming a data dir on their command line.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("tessera-harness-watchdog")
            .arg(pid.to_string())
            .env("TESSERA_HARNESS_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the watchdog shell")?;
        let stdin = child.stdin.take().context("watchdog stdin")?;
        Ok(Watchdog { stdin, child })
    }

    /// Tells the watchdog `word` and waits for it to act on it.
    fn finish(mut self, word: &str) {
        let _ = writeln!(self.stdin, "{word}");
        drop(self.stdin);
        let _ = self.child.wait();
    }
}
