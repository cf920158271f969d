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

/// One server's stored session.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

/// The elevated token from `unlock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredElevation {
    pub token: String,
    pub token_id: String,
    pub expires_at: i64,
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

    /// Reads the file; a missing one is empty.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Credentials> {
        let path = Self::path(file)?;
        let mut credentials: Credentials = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a credentials file; delete it and log in again",
                    path.display()
                )
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Credentials::default(),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
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

/// Writes a file readable only by its owner, atomically (temp file, then rename).
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
