//! One `tessera dev` per data dir. The first holds an exclusive lock on `<data dir>/dev.lock` for
//! its whole life and keeps its pid and addresses in that file; a second one finds the lock taken,
//! names the running instance and leaves at once, before it touches PostgreSQL or any port. The
//! kernel drops the lock when the holder dies, however it dies, so a crash never blocks the next
//! run.

use std::{
    fs::{File, OpenOptions},
    io::{Seek, SeekFrom, Write},
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _};
use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
};
use serde::{Deserialize, Serialize};

/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "dev.lock";

/// What the running instance says about itself, in its lock file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Its process id.
    pub pid: u32,
    /// Its gRPC address, once bound.
    #[serde(default)]
    pub grpc: Option<String>,
    /// Its HTTP edge, once started.
    #[serde(default)]
    pub http_edge: Option<String>,
    /// Its line edge, once started.
    #[serde(default)]
    pub line_edge: Option<String>,
}

/// The claim on a data dir; released when dropped (or when the process dies).
pub struct Instance {
    lock: Flock<File>,
    path: PathBuf,
    info: InstanceInfo,
}

impl Instance {
    /// Takes the data dir for this process, or fails naming the instance that holds it.
    pub fn claim(data_dir: &Path) -> anyhow::Result<Instance> {
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => bail!("{}", running_elsewhere(data_dir, &path)),
            Err((_, errno)) => bail!("locking {}: {errno}", path.display()),
        };
        let mut instance = Instance {
            lock,
            path,
            info: InstanceInfo {
                pid: std::process::id(),
                ..InstanceInfo::default()
            },
        };
        instance.save()?;
        Ok(instance)
    }

    /// Records an address of this instance for a second one to name.
    pub fn record(&mut self, update: impl FnOnce(&mut InstanceInfo)) -> anyhow::Result<()> {
        update(&mut self.info);
        self.save()
    }

    fn save(&mut self) -> anyhow::Result<()> {
        let text = serde_json::to_string(&self.info)?;
        let file: &mut File = &mut self.lock;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// The refusal: who holds the data dir, where it listens, and what to do.
fn running_elsewhere(data_dir: &Path, lock: &Path) -> String {
    let info: Option<InstanceInfo> = std::fs::read_to_string(lock)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let mut what = match &info {
        Some(info) => format!("pid {}", info.pid),
        None => "pid unknown, still starting".to_owned(),
    };
    if let Some(info) = &info {
        for (label, addr) in [
            ("gRPC", &info.grpc),
            ("HTTP edge", &info.http_edge),
            ("line edge", &info.line_edge),
        ] {
            if let Some(addr) = addr {
                what.push_str(&format!(", {label} {addr}"));
            }
        }
    }
    let stop = info
        .map(|info| format!("stop it first (kill {}) or ", info.pid))
        .unwrap_or_default();
    format!(
        "another tessera dev is already running on data dir {} ({what}); it was left untouched. \
         Use that one, {stop}pass another --data-dir",
        data_dir.display()
    )
}

/// Fails when one of `addrs` (each named by its flag) cannot be bound now, so a clash is
/// reported before anything starts or any credential is printed. Port 0 always binds.
pub fn check_ports(addrs: &[(&str, SocketAddr)]) -> anyhow::Result<()> {
    for (flag, addr) in addrs {
        if addr.port() == 0 {
            continue;
        }
        if let Err(err) = TcpListener::bind(addr) {
            bail!("{flag} {addr} cannot be bound: {err}; something else listens there (another tessera dev?); pick another with {flag}, or port 0 for any free one");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_names_the_first_and_a_released_one_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Instance::claim(dir.path()).unwrap();
        first
            .record(|info| info.grpc = Some("127.0.0.1:50051".into()))
            .unwrap();
        let err = Instance::claim(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("127.0.0.1:50051"),
            "{err}"
        );
        drop(first);
        Instance::claim(dir.path()).unwrap();
    }

    #[test]
    fn a_taken_port_is_named_with_its_flag() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = check_ports(&[("--listen", addr)]).unwrap_err().to_string();
        assert!(
            err.contains("--listen") && err.contains(&addr.to_string()),
            "{err}"
        );
        check_ports(&[("--listen", "127.0.0.1:0".parse().unwrap())]).unwrap();
    }
}
