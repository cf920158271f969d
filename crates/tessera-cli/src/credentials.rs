//! The CLI's own sessions, kept like `vault login` or `gh auth login` do: a credentials file
//! readable only by its owner (0600 in a 0700 directory), one entry per server. Remote commands
//! act with the stored session (or its elevated token while one lasts) when no token is given.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use tessera_client::ServerAddress;

/// One server's stored session. Its `Debug` leaves the tokens out.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    pub username: String,
    #[serde(default)]
    pub role: String,
    pub token: String,
    pub token_id: String,
    /// Unix seconds; 0 when the server gave none.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub elevated: Option<StoredElevation>,
    /// How `tessera login` reached the server (CA, expected name, client certificate), used
    /// when a later command's flags leave them out.
    #[serde(default, skip_serializing_if = "StoredTls::is_empty")]
    pub tls: StoredTls,
}

/// The TLS settings a session was made with: paths (absolute) and a name, never key material.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl StoredTls {
    fn is_empty(&self) -> bool {
        self == &StoredTls::default()
    }
}

/// The elevated token from `unlock`. Its `Debug` leaves the token out.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredElevation {
    pub token: String,
    pub token_id: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .field("elevated", &self.elevated)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StoredElevation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredElevation")
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The credentials file: sessions by canonical server address.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// The sessions, by server address.
    #[serde(default)]
    pub servers: BTreeMap<String, StoredSession>,
    #[serde(skip)]
    path: PathBuf,
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Credentials {
    /// `--credentials-file`, else `$XDG_CONFIG_HOME/tessera/credentials.json`, else
    /// `~/.config/tessera/credentials.json`.
    pub fn path(file: Option<&Path>) -> anyhow::Result<PathBuf> {
        if let Some(path) = file {
            return Ok(path.to_owned());
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
            .context("no HOME to keep credentials in; pass --credentials-file")?;
        Ok(config.join("tessera/credentials.json"))
    }

    /// Reads the file; a missing one is empty. A file that is a symbolic link, or that users
    /// other than its owner may read or write, is refused: it holds session tokens.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Credentials> {
        let path = Self::path(file)?;
        let mut credentials: Credentials = match read_private(&path)? {
            Some(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a credentials file; delete it and log in again",
                    path.display()
                )
            })?,
            None => Credentials::default(),
        };
        credentials.path = path;
        Ok(credentials)
    }

    /// Writes the file, 0600 in a 0700 directory, atomically.
    pub fn save(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::DirBuilderExt as _;
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        write_private(&self.path, serde_json::to_string_pretty(self)?.as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// The session stored for `address`.
    pub fn session(&self, address: &ServerAddress) -> Option<&StoredSession> {
        self.servers.get(&address.to_string())
    }

    /// The token to act with: the elevated one while it lasts, else the session.
    pub fn active_token(&self, address: &ServerAddress) -> Option<String> {
        let session = self.session(address)?;
        match &session.elevated {
            Some(elevated) if elevated.expires_at > now() => Some(elevated.token.clone()),
            _ => Some(session.token.clone()),
        }
    }

    /// Where the file is.
    pub fn file(&self) -> &Path {
        &self.path
    }
}

/// Writes a file readable only by its owner, atomically: a new temp file beside it (created with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600, so a leftover file cannot lend it a wider mode and a
/// planted symbolic link cannot redirect it), then a rename over `path`.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
    remove_stale(&tmp)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} appeared while this CLI was writing it, so another process writes there \
                 too; make sure none does, then try again",
                tmp.display()
            ),
            _ => anyhow::Error::new(err).context(format!("creating {}", tmp.display())),
        })?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Removes a temp file left by an interrupted write; a symbolic link there is refused, since
/// someone else may have put it there to have the next write land elsewhere.
fn remove_stale(tmp: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(tmp) {
        Ok(meta) if meta.file_type().is_symlink() => anyhow::bail!(
            "{} is a symbolic link, not a file this CLI left: refusing to write through it; \
             check who created it, remove it, then try again",
            tmp.display()
        ),
        Ok(_) => std::fs::remove_file(tmp)
            .with_context(|| format!("removing the stale {}", tmp.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("checking {}", tmp.display())),
    }
}

/// The text of a file only its owner may read, `None` when there is none. It is opened without
/// following a symbolic link, and its mode is read from the opened file, so neither can change
/// between the check and the read.
fn read_private(path: &Path) -> anyhow::Result<Option<String>> {
    use std::io::Read as _;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) if err.raw_os_error() == Some(nix::libc::ELOOP) => anyhow::bail!(
            "{} is a symbolic link; credentials are read only from a regular file: replace the \
             link with the file itself (or delete it and log in again)",
            path.display()
        ),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "{} is open to other users (mode {mode:04o}) and holds session tokens: run `chmod \
             600 {}`, then `tessera logout` and log in again, since others may have read them",
            path.display(),
            path.display()
        );
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests;
