//! Databases on the embedded server, and naming them in URLs.

use sqlx::postgres::PgConnection;
use sqlx::Executor;

use super::EmbeddedError;

/// Rejects names that would need quoting or exceed PostgreSQL's 63-byte identifier limit.
pub(crate) fn validate_database_name(name: &str) -> Result<(), EmbeddedError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 63 {
        Some("it is longer than 63 bytes")
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        Some("it starts with a digit")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("only lowercase ascii letters, digits and '_' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(EmbeddedError::InvalidDatabaseName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `CREATE DATABASE` unless it exists; true when this call created it. `name` must have passed
/// [`validate_database_name`]. A concurrent creator winning the race counts as existing.
pub(crate) async fn create_database(
    conn: &mut PgConnection,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        return Ok(false);
    }
    match conn
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
    {
        Ok(_) => Ok(true),
        // duplicate_database, or unique_violation on pg_database when both inserted at once.
        Err(sqlx::Error::Database(err))
            if matches!(err.code().as_deref(), Some("42P04" | "23505")) =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// Percent-encodes all but unreserved characters (and `/` when `keep_slash`), for URL parts.
pub(super) fn percent_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
