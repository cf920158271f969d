//! The cluster on disk: the data directory's layout, `initdb`, and the commands that run as the
//! right user.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::timeout;
use tracing::info;

use super::privileges::{self, RunAs};
use super::relocation;
use super::{find_bin_dir, process, EmbeddedError, EmbeddedOptions};
use super::{LOG_TAIL_LINES, PORT, SUPERUSER};

const INITDB_TIMEOUT: Duration = Duration::from_secs(180);
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// Appended to `postgresql.conf` after `initdb`. Paths go on the command line instead, so the
/// data directory can move.
const DEV_SETTINGS: &str = "
# Added by tessera's embedded supervisor.
listen_addresses = ''
max_connections = 200
unix_socket_permissions = 0700
timezone = 'UTC'
log_timezone = 'UTC'
";

/// Resolved paths, checked before anything runs.
pub(super) struct Layout {
    pub(super) bin_dir: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) pgdata: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) log_path: PathBuf,
    pub(super) run_as: Option<RunAs>,
    /// The data dir asked for, when the cluster had to live elsewhere (see `relocation`).
    pub(super) relocated_from: Option<PathBuf>,
}

impl Layout {
    /// Finds the binaries and creates and checks the directories. Blocking.
    pub(super) fn prepare(opts: &EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir(opts.bin_dir.as_deref())?;
        let run_as = privileges::unprivileged_account()?;

        let requested = std::path::absolute(&opts.data_dir)
            .map_err(|err| EmbeddedError::io("resolve", &opts.data_dir, err))?;
        if let Some(parent) = requested.parent() {
            fs::create_dir_all(parent).map_err(|err| EmbeddedError::io("create", parent, err))?;
        }
        let created = create_private_dir(&requested)?;
        let requested = fs::canonicalize(&requested)
            .map_err(|err| EmbeddedError::io("resolve", &requested, err))?;
        let mut relocated_from = None;
        let data_dir = match &run_as {
            None => requested,
            Some(user) => {
                // Only a directory we just created is handed over; an existing one (perhaps a
                // home directory) keeps its owner and merely has to be traversable.
                if created {
                    privileges::chown_tree(&requested, user)?;
                }
                match privileges::check_traversable(&requested, user) {
                    Ok(()) => requested,
                    // A checkout in /root or a `mktemp -d` folder: the cluster goes where the
                    // unprivileged user can reach it, same place every run, so its data is kept.
                    Err(EmbeddedError::NotTraversable { dir, .. }) => {
                        let moved = relocation::relocate(&requested, &dir, user)?;
                        relocated_from = Some(requested);
                        moved
                    }
                    Err(other) => return Err(other),
                }
            }
        };
        match data_dir.to_str() {
            None => return Err(invalid_data_dir(&data_dir, "the path is not valid utf-8")),
            Some(text) if text.contains([',', '"']) => {
                return Err(invalid_data_dir(&data_dir, "the path contains ',' or '\"'"))
            }
            Some(_) => {}
        }

        let socket_dir = data_dir.join("run");
        let socket = socket_dir.join(format!(".s.PGSQL.{PORT}"));
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(EmbeddedError::SocketPathTooLong {
                path: socket,
                len,
                max: MAX_SOCKET_PATH,
            });
        }
        match DirBuilder::new().mode(0o700).create(&socket_dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(EmbeddedError::io("create", &socket_dir, err)),
        }
        if let Some(user) = &run_as {
            privileges::chown_tree(&socket_dir, user)?;
        }

        let pgdata = data_dir.join("pgdata");
        if pgdata.exists() && !pgdata.join("PG_VERSION").exists() {
            let empty = fs::read_dir(&pgdata).is_ok_and(|mut entries| entries.next().is_none());
            if !empty {
                return Err(invalid_data_dir(
                    &pgdata,
                    "it is not empty but holds no PG_VERSION, so it is not a postgresql data \
                     directory; move it away",
                ));
            }
            fs::remove_dir(&pgdata).map_err(|err| EmbeddedError::io("remove", &pgdata, err))?;
        }

        Ok(Self {
            bin_dir,
            pgdata,
            log_path: data_dir.join("postgres.log"),
            socket_dir,
            data_dir,
            run_as,
            relocated_from,
        })
    }

    /// Opens the log for appending (postgres and initdb write to it), moving an oversized one
    /// aside first.
    pub(super) fn open_log(&self) -> Result<File, EmbeddedError> {
        process::rotate_log(&self.log_path, LOG_ROTATE_BYTES);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|err| EmbeddedError::io("open", &self.log_path, err))
    }

    /// A postgres command running as the right user, writing to the log; `tied` makes it stop
    /// (fast shutdown) when this process dies.
    fn command(&self, program: &str, log: &File, tied: bool) -> Result<Command, EmbeddedError> {
        let log_handle = || {
            log.try_clone()
                .map_err(|err| EmbeddedError::io("reopen", &self.log_path, err))
        };
        let mut command = if tied {
            process::tied_command(&self.bin_dir.join(program), "INT")
        } else {
            Command::new(self.bin_dir.join(program))
        };
        command
            // The unprivileged user may not be able to enter the caller's working directory.
            .current_dir(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(log_handle()?)
            .stderr(log_handle()?)
            .kill_on_drop(false);
        if let Some(user) = &self.run_as {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        Ok(command)
    }
}

/// Creates `dir` with mode 0700; true when it did not exist before.
fn create_private_dir(dir: &Path) -> Result<bool, EmbeddedError> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(EmbeddedError::io("create", dir, err)),
    }
}

fn invalid_data_dir(path: &Path, reason: &str) -> EmbeddedError {
    EmbeddedError::InvalidDataDir {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

/// Runs `initdb` into a scratch directory and renames it into place, so an interrupted run
/// never leaves a half-made `pgdata` that looks initialised.
pub(super) async fn initdb(layout: &Layout, log: &File) -> Result<(), EmbeddedError> {
    let partial = layout.data_dir.join("pgdata.partial");
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|err| EmbeddedError::io("remove", &partial, err))?;
    }
    DirBuilder::new()
        .mode(0o700)
        .create(&partial)
        .map_err(|err| EmbeddedError::io("create", &partial, err))?;
    if let Some(user) = &layout.run_as {
        privileges::chown_tree(&partial, user)?;
    }

    info!(data_dir = %layout.data_dir.display(), "initializing postgresql data directory");
    let program = layout.bin_dir.join("initdb");
    let mut child = layout
        .command("initdb", log, false)?
        .arg("-D")
        .arg(&partial)
        .args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ])
        // If start() is abandoned mid-way, initdb goes too; the next start redoes it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| EmbeddedError::Spawn {
            program: program.clone(),
            source,
        })?;
    let status = match timeout(INITDB_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(source)) => return Err(EmbeddedError::Spawn { program, source }),
        Err(_elapsed) => {
            let _ = child.kill().await;
            return Err(EmbeddedError::StartFailed {
                reason: format!("initdb did not finish within {}s", INITDB_TIMEOUT.as_secs()),
                log: layout.log_path.clone(),
                tail: process::log_tail(&layout.log_path, LOG_TAIL_LINES),
            });
        }
    };
    if !status.success() {
        return Err(EmbeddedError::InitdbFailed {
            status,
            log: layout.log_path.clone(),
            tail: process::log_tail(&layout.log_path, LOG_TAIL_LINES),
        });
    }

    let conf = partial.join("postgresql.conf");
    OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut file| file.write_all(DEV_SETTINGS.as_bytes()))
        .map_err(|err| EmbeddedError::io("append settings to", &conf, err))?;
    fs::rename(&partial, &layout.pgdata)
        .map_err(|err| EmbeddedError::io("move into place", &layout.pgdata, err))?;
    Ok(())
}

pub(super) fn spawn_postgres(
    layout: &Layout,
    log: &File,
    tied: bool,
) -> Result<Child, EmbeddedError> {
    layout
        .command("postgres", log, tied)?
        .arg("-D")
        .arg(&layout.pgdata)
        .arg("-k")
        .arg(&layout.socket_dir)
        .args(["-p", &PORT.to_string(), "-c", "listen_addresses="])
        // Its own process group: a terminal's Ctrl-C reaches the supervisor, which then shuts
        // the server down in order, instead of hitting postgres mid-query.
        .process_group(0)
        .spawn()
        .map_err(|source| EmbeddedError::Spawn {
            program: layout.bin_dir.join("postgres"),
            source,
        })
}
