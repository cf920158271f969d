//! The supervisor's one error type. Messages say what failed, where, and what to do about it.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why the embedded PostgreSQL could not be found, started, used or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// No directory holding both `initdb` and `postgres` was found.
    #[error(
        "postgresql server binaries (initdb, postgres) not found; tried: {}; install PostgreSQL \
         (Debian/Ubuntu: apt-get install postgresql) or name the directory holding initdb and postgres",
        tried.join("; ")
    )]
    BinariesNotFound {
        /// Each place looked at, with why it did not qualify.
        tried: Vec<String>,
    },

    /// The data directory cannot be used as given.
    #[error("invalid data dir {path}: {reason}")]
    InvalidDataDir { path: PathBuf, reason: String },

    /// Running as root, but no unprivileged account exists to run PostgreSQL as.
    #[error(
        "initdb and postgres refuse to run as root and neither a `postgres` nor a `nobody` user \
         exists; create one (useradd --system postgres) or run tessera as an unprivileged user"
    )]
    NoUnprivilegedUser,

    /// A directory on the way to the data dir blocks the unprivileged PostgreSQL user.
    #[error(
        "directory {dir} is not traversable by user {user}, which runs postgresql because tessera \
         runs as root; allow it (chmod o+x {dir}) or choose a data dir under /tmp or /var/lib"
    )]
    NotTraversable { dir: PathBuf, user: String },

    /// The Unix socket path would exceed what the kernel allows.
    #[error(
        "socket path {path} is {len} bytes, longer than the {max} a unix socket allows; choose a \
         shorter data dir"
    )]
    SocketPathTooLong {
        path: PathBuf,
        len: usize,
        max: usize,
    },

    /// A file-system operation failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A program could not be started at all.
    #[error("could not run {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `initdb` ran and failed.
    #[error("initdb failed ({status}); last lines of {log}:\n{tail}")]
    InitdbFailed {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },

    /// `postgres` did not come up.
    #[error("postgresql did not start: {reason}; last lines of {log}:\n{tail}")]
    StartFailed {
        reason: String,
        log: PathBuf,
        tail: String,
    },

    /// Another postgres owns the data dir but does not answer where we expect it.
    #[error(
        "postgres (pid {pid}) holds {data_dir} but does not answer on {socket_dir}; stop it \
         (kill -INT {pid}) or choose another data dir"
    )]
    ForeignServer {
        pid: i32,
        data_dir: PathBuf,
        socket_dir: PathBuf,
    },

    /// Another supervisor held the data dir's lock for too long.
    #[error("timed out waiting for the lock on {path}, held by another tessera process")]
    LockTimeout { path: PathBuf },

    /// A database name that could not be used safely in SQL.
    #[error("invalid database name {name:?}: {reason}")]
    InvalidDatabaseName { name: String, reason: &'static str },

    /// A statement or connection to the embedded server failed.
    #[error("could not {action}: {source}")]
    Sql {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// Signalling the server failed.
    #[error("could not signal postgres (pid {pid}): {source}")]
    Signal {
        pid: i32,
        #[source]
        source: nix::Error,
    },

    /// The server did not exit even after SIGKILL.
    #[error("postgres (pid {pid}) did not exit after fast shutdown, immediate shutdown and kill")]
    StopTimeout { pid: i32 },
}

impl EmbeddedError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
