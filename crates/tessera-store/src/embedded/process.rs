//! The running server as seen from outside: its pid file, whether that pid is really our
//! postgres, signals, the data dir lock and the log.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::time::{sleep, Instant};

use super::EmbeddedError;

/// What `postmaster.pid` says about the data directory.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Postmaster {
    /// No pid file: nothing runs on this data directory.
    Absent,
    /// A pid file whose process is gone, or is not a postgres serving this data directory.
    Stale,
    /// A live postgres serving this data directory.
    Live(Pid),
}

pub(super) fn inspect_postmaster(pgdata: &Path) -> Result<Postmaster, EmbeddedError> {
    let pid_file = pgdata.join("postmaster.pid");
    let contents = match fs::read_to_string(&pid_file) {
        Ok(contents) => contents,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Postmaster::Absent),
        Err(err) => return Err(EmbeddedError::io("read", pid_file, err)),
    };
    let pid = contents
        .lines()
        .next()
        .and_then(|line| line.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 0);
    Ok(match pid {
        Some(pid) if is_postgres_for(Pid::from_raw(pid), pgdata) => {
            Postmaster::Live(Pid::from_raw(pid))
        }
        _ => Postmaster::Stale,
    })
}

/// Whether `pid` is a running postgres whose working directory is `pgdata` (postgres chdirs into
/// its data directory). Pids are reused, so a live pid alone proves nothing. Where `/proc` cannot
/// tell, a live pid is taken at its word and the socket probe decides.
fn is_postgres_for(pid: Pid, pgdata: &Path) -> bool {
    if !is_running(pid) {
        return false;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if let Ok(comm) = fs::read_to_string(proc_dir.join("comm")) {
        if !matches!(comm.trim(), "postgres" | "postmaster") {
            return false;
        }
    }
    match (
        fs::read_link(proc_dir.join("cwd")),
        fs::canonicalize(pgdata),
    ) {
        (Ok(cwd), Ok(pgdata)) => cwd == pgdata,
        _ => true,
    }
}

/// Whether `pid` exists and has not exited (a zombie waiting for its parent counts as exited).
pub(super) fn is_running(pid: Pid) -> bool {
    if pid.as_raw() <= 0 {
        return false;
    }
    match kill(pid, None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold ") ".
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| !matches!(state, 'Z' | 'X')),
        Err(_) => true,
    }
}

/// Where util-linux's `setpriv` is, if installed.
fn setpriv() -> Option<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// A command for `program` that receives `signal` (a name such as `INT`, `TERM`) when the
/// thread that spawns it exits, however this process dies (even SIGKILL), so no child outlives
/// its supervisor. The Linux parent-death signal is set by util-linux's `setpriv` between fork
/// and exec, since this workspace forbids the `unsafe` a `pre_exec` hook needs. Without
/// `setpriv` the command runs bare (a warning says so) and only orderly exits stop the child.
/// Spawn from a thread that lives as long as the child should (a runtime worker, not a
/// `spawn_blocking` thread).
pub fn tied_command(program: &Path, signal: &str) -> tokio::process::Command {
    match setpriv() {
        Some(setpriv) => {
            let mut command = tokio::process::Command::new(setpriv);
            command
                .arg(format!("--pdeathsig={signal}"))
                .arg("--")
                .arg(program);
            command
        }
        None => {
            tracing::warn!(program = %program.display(), "setpriv (util-linux) not found; this child may outlive a crash of its parent");
            tokio::process::Command::new(program)
        }
    }
}

/// Sends `signal`; a process that is already gone is not an error.
pub(super) fn send(pid: Pid, signal: Signal) -> Result<(), EmbeddedError> {
    // kill(0) and kill(-1) would signal our own process group or every process we may signal.
    if pid.as_raw() <= 0 {
        return Ok(());
    }
    match kill(pid, signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(EmbeddedError::Signal {
            pid: pid.as_raw(),
            source,
        }),
    }
}

/// Polls until `pid` has exited or `timeout` passes; true when it exited.
pub(super) async fn wait_gone(pid: Pid, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_running(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// Takes the exclusive lock that serialises supervisors (threads or processes) on one data
/// directory, so two of them never `initdb` or start the same cluster at once. Released on drop;
/// the file is opened close-on-exec, so postgres never inherits it.
pub(super) async fn lock_data_dir(
    path: &Path,
    timeout: Duration,
) -> Result<Flock<File>, EmbeddedError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|err| EmbeddedError::io("open", path, err))?;
    let deadline = Instant::now() + timeout;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((returned, Errno::EWOULDBLOCK | Errno::EINTR)) => file = returned,
            Err((_, errno)) => {
                return Err(EmbeddedError::io("lock", path, std::io::Error::from(errno)))
            }
        }
        if Instant::now() >= deadline {
            return Err(EmbeddedError::LockTimeout {
                path: path.to_path_buf(),
            });
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// The last `lines` lines of the log, for error messages.
pub(super) fn log_tail(log: &Path, lines: usize) -> String {
    const WINDOW: u64 = 16 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = File::open(log)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(WINDOW)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(log unreadable: {err})"),
    }
}

/// Moves a log past `limit` bytes aside (one generation kept), so a long-lived dev data
/// directory does not grow without bound.
pub(super) fn rotate_log(log: &Path, limit: u64) {
    if fs::metadata(log).is_ok_and(|meta| meta.len() > limit) {
        let mut old = log.as_os_str().to_owned();
        old.push(".1");
        let _ = fs::rename(log, old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_of_a_live_non_postgres_process_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(inspect_postmaster(dir.path()).unwrap(), Postmaster::Absent);

        // Our own pid is alive but is not postgres.
        let contents = format!("{}\n{}\n", std::process::id(), dir.path().display());
        fs::write(dir.path().join("postmaster.pid"), contents).unwrap();
        assert_eq!(inspect_postmaster(dir.path()).unwrap(), Postmaster::Stale);

        fs::write(dir.path().join("postmaster.pid"), "garbage\n").unwrap();
        assert_eq!(inspect_postmaster(dir.path()).unwrap(), Postmaster::Stale);
    }

    #[test]
    fn exited_child_is_not_running() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        // Not yet reaped: a zombie, which must already count as gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while is_running(pid) {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!is_running(pid));
        assert!(is_running(Pid::this()));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("postgres.log");
        let text: String = (1..=50).map(|n| format!("line {n}\n")).collect();
        fs::write(&log, text).unwrap();
        assert_eq!(log_tail(&log, 2), "line 49\nline 50");
        assert!(log_tail(&dir.path().join("missing"), 2).starts_with("(log unreadable"));
    }
}
