use thiserror::Error;

/// A store failure, classified so the server can fail closed on `Unavailable` and name conflicts.
#[derive(Debug, Error)]
pub enum StoreError {
    /// PostgreSQL could not be reached or went away mid-request.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A unique constraint refused the write (e.g. a duplicate username).
    #[error("{what} already exists")]
    Conflict {
        /// What collided, e.g. "username".
        what: &'static str,
    },
    /// A stored value no longer parses into the domain (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(err),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("23505") => StoreError::Conflict {
                    what: conflict_subject(db.constraint()),
                },
                // Connection exceptions, operator intervention (shutdown), insufficient resources.
                Some(code)
                    if code.starts_with("08")
                        || code.starts_with("57P")
                        || code.starts_with("53") =>
                {
                    StoreError::Unavailable(err)
                }
                // A read-only transaction: the connection reached a standby (a router that sent
                // it to a node still in recovery during a failover). No primary answers here.
                Some("25006") => {
                    crate::standby::seen();
                    StoreError::Unavailable(err)
                }
                _ => StoreError::Database(err),
            },
            _ => StoreError::Database(err),
        }
    }
}

fn conflict_subject(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some("users_username_key") => "username",
        Some("tokens_hash_key") => "token",
        _ => "record",
    }
}
