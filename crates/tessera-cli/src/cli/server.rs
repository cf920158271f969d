//! The flags of the commands that run a server (`serve`, `dev`), validated once into the typed
//! settings `tessera-server` takes, with errors that name the flag.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;
use tessera_core::seal::SealingKey;
use tessera_rules::ttl::parse_ttl;
use tessera_server::{
    bootstrap::{self, BootstrapPlan},
    connections::ConnectionLimits,
    settings::{AuthSettings, Redacted, ServeSettings, UNLOCK_TTL_CEILING},
    sweeper::{check_revocation_retention, longest_lifetime, Retention, SweeperSettings},
    tls::TlsFiles,
};

use super::DatabaseArgs;

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Do not run pending migrations at start-up.
    #[arg(long, env = "TESSERA_SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// PostgreSQL URL of a direct session (not PgBouncer's transaction pooling) for what needs one:
    /// the LISTENs that bring revocations and JWT key changes to this replica, and the migration
    /// lock. Default: --database-url.
    #[arg(long, env = "TESSERA_DIRECT_DATABASE_URL", hide_env_values = true)]
    pub direct_database_url: Option<String>,
}

/// Flags of `dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Directory for the embedded PostgreSQL and the dev credentials (created if missing). One
    /// `tessera dev` per directory. Run as root, when PostgreSQL's user cannot reach it (a checkout
    /// in /root), the cluster lives in /var/lib/tessera/embedded/<name>-<hash> instead, kept across
    /// runs (its `cluster-location` file says where).
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = ".tessera")]
    pub data_dir: PathBuf,
    /// Start over: remove the data directory and the PostgreSQL cluster that serves it (also a
    /// relocated one under /var/lib/tessera/embedded, which `rm -rf .tessera` leaves behind), then
    /// start as on a first run. Refused while another `tessera dev` runs on it.
    #[arg(long)]
    pub reset: bool,
    /// Directory holding initdb and postgres (default: pg_config, then /usr/lib/postgresql/*/bin).
    #[arg(long, env = "TESSERA_PG_BIN")]
    pub pg_bin_dir: Option<PathBuf>,
    /// When ready, write the connection details as JSON to this file (for scripts and tests).
    #[arg(long, env = "TESSERA_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub edges: EdgeArgs,
}

/// Where to listen.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address for the gRPC API (port 0 picks a free port).
    #[arg(long, env = "TESSERA_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Serve Prometheus metrics (GET /metrics) on this separate address, e.g. 127.0.0.1:9464
    /// (port 0 picks a free port). Off unless given.
    #[arg(long, env = "TESSERA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub traces: tessera_telemetry::TraceArgs,
    /// Serve gRPC over TLS with this PEM certificate chain (leaf first); needs --tls-key. The pair
    /// is reloaded on SIGHUP and when either file changes, without a restart.
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: PEM CA certificates that sign client certificates. Every client must then
    /// present one; its subject is recorded with the client's calls. Needs --tls-cert.
    #[arg(long, env = "TESSERA_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// How often the --tls-cert and --tls-key files are checked for changes, e.g. 10s.
    #[arg(long, env = "TESSERA_TLS_WATCH_INTERVAL", default_value = "10s")]
    pub tls_watch_interval: String,
    /// Most concurrent gRPC streams (calls) on one client connection; HTTP/2 refuses more.
    #[arg(long, env = "TESSERA_MAX_CONCURRENT_STREAMS", default_value_t = 256)]
    pub max_concurrent_streams: u32,
    /// On SIGTERM: health turns NOT_SERVING, WatchRevocations streams end (UNAVAILABLE, reconnect
    /// elsewhere), no new connections are taken, and in-flight calls get this long to finish, e.g. 10s.
    #[arg(long, env = "TESSERA_SHUTDOWN_GRACE", default_value = "10s")]
    pub shutdown_grace: String,
    /// Most gRPC client connections open at once; more are closed at once, not queued.
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Most connections one source address may hold before their TLS handshake and HTTP/2
    /// preface; more from it are closed at once, so silent clients from one address cannot take
    /// every slot.
    #[arg(long, env = "TESSERA_MAX_PENDING_PER_SOURCE", default_value_t = 256)]
    pub max_pending_per_source: usize,
    /// Time a new connection has to finish its TLS handshake and send the HTTP/2 preface, e.g. 5s;
    /// a connection that has not is closed.
    #[arg(long, env = "TESSERA_PREFACE_TIMEOUT", default_value = "5s")]
    pub preface_timeout: String,
    /// A connection with no call open for this long is closed, e.g. 5m (clients reconnect on
    /// their next call; a WatchRevocations stream keeps its connection).
    #[arg(long, env = "TESSERA_IDLE_TIMEOUT", default_value = "5m")]
    pub idle_timeout: String,
}

/// Authentication policy flags shared by `serve` and `dev`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Lifetime of a login session, e.g. 12h.
    #[arg(long, env = "TESSERA_SESSION_TTL", default_value = "12h")]
    pub session_ttl: String,
    /// Longest elevation an Unlock may grant (at most 1h).
    #[arg(long, env = "TESSERA_UNLOCK_TTL_CAP", default_value = "15m")]
    pub unlock_ttl_cap: String,
    /// Lifetime of an issued token whose request names none (capped by its parent).
    #[arg(long, env = "TESSERA_DEFAULT_TOKEN_TTL", default_value = "1h")]
    pub default_token_ttl: String,
    /// Failed login attempts before the account locks.
    #[arg(long, env = "TESSERA_MAX_FAILED_LOGINS", default_value_t = 5)]
    pub max_failed_logins: u32,
    /// How long a locked account stays locked.
    #[arg(long, env = "TESSERA_LOCKOUT", default_value = "15m")]
    pub lockout: String,
    /// argon2id hash (PHC string) of the break-glass root password accepted by Unlock; make one
    /// with `tessera hash-password`.
    #[arg(long, env = "TESSERA_ROOT_PASSWORD_HASH", hide_env_values = true)]
    pub root_password_hash: Option<String>,
    /// Base64 of 32 random bytes sealing TOTP seeds and JWT signing keys at rest (e.g.
    /// `openssl rand -base64 32`). Needed once any account enrolls TOTP, and to issue JWTs
    /// (without it a replica still verifies them); `dev` keeps one in its data directory.
    #[arg(long, env = "TESSERA_TOTP_KEY", hide_env_values = true)]
    pub totp_key: Option<String>,
    /// Password verifications running at once (default: half the cores, at least 1).
    #[arg(long, env = "TESSERA_HASH_WORKERS")]
    pub hash_workers: Option<usize>,
    /// Password verifications that may wait; past this, Login answers RESOURCE_EXHAUSTED at once.
    #[arg(long, env = "TESSERA_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,
    /// Most password checks (running or waiting) one client address may have in flight, so a
    /// flood from one address cannot take every place from the others; past it, RESOURCE_EXHAUSTED
    /// at once. 0 means a quarter of --hash-workers plus --hash-queue (at least the workers plus
    /// one).
    #[arg(long, env = "TESSERA_HASH_PER_SOURCE", default_value_t = 0)]
    pub hash_per_source: usize,
    /// Disable the per-replica decision cache (every Introspect reads PostgreSQL).
    #[arg(long, env = "TESSERA_NO_CACHE")]
    pub no_cache: bool,
    /// Most decisions the per-replica cache holds (0 caches nothing); when full, an arbitrary
    /// entry makes room.
    #[arg(long, env = "TESSERA_CACHE_CAPACITY", default_value_t = 100_000)]
    pub cache_capacity: usize,
    /// Most WatchRevocations streams open at once per caller (an account, or a token without
    /// one); more answer RESOURCE_EXHAUSTED.
    #[arg(long, env = "TESSERA_WATCH_STREAMS_PER_CALLER", default_value_t = 8)]
    pub watch_streams_per_caller: usize,
    /// Audited writes (IssueToken, Revoke) one `user` account may make per second on this
    /// replica, five seconds' worth at once; past it they answer RESOURCE_EXHAUSTED before writing
    /// anything. Admin accounts and tokens acting for no account are not limited. 0: no limit.
    #[arg(long, env = "TESSERA_WRITES_PER_CALLER", default_value_t = 100)]
    pub writes_per_caller: u32,
    /// How long a follower of the revocation feed (a replica's cache, an edge) may serve decisions
    /// from its cache after PostgreSQL last proved it current (renewed every fifth of it); also the
    /// longest a Revoke waits for a follower that stopped answering, e.g. 250ms (50ms to 30s).
    #[arg(long, env = "TESSERA_FEED_LEASE", default_value = "250ms")]
    pub feed_lease: String,
    /// Static tokens file (TOML, `[token.<name>] secret, namespace, permissions, expires`), loaded
    /// at start and reloaded on SIGHUP.
    #[arg(long, env = "TESSERA_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// How often expired tokens are deleted (in batches), e.g. 5m.
    #[arg(long, env = "TESSERA_SWEEP_INTERVAL", default_value = "5m")]
    pub sweep_interval: String,
    /// How long revocations stay in the feed WatchRevocations replays, e.g. 14d (default: 7d, or
    /// the longest configured token lifetime when that is longer). At least the longest configured
    /// token lifetime (--session-ttl, --default-token-ttl, --unlock-ttl-cap) unless
    /// --revocation-retention-resync is given. A watcher resuming from a pruned sequence gets
    /// FAILED_PRECONDITION / RESYNC_REQUIRED and starts again from 0.
    #[arg(long, env = "TESSERA_REVOCATION_RETENTION")]
    pub revocation_retention: Option<String>,
    /// Accept a --revocation-retention shorter than the longest configured token lifetime:
    /// watchers disconnected for longer than it drop their caches and resync.
    #[arg(long, env = "TESSERA_REVOCATION_RETENTION_RESYNC")]
    pub revocation_retention_resync: bool,
    /// How long audit events are kept, e.g. 90d, or `forever`; export older ones first with
    /// `tessera audit export`.
    #[arg(long, env = "TESSERA_AUDIT_RETENTION", default_value = "90d")]
    pub audit_retention: String,
    /// Accounts to create at start-up if missing: a JSON list of
    /// {"username","password","role","display_name"}.
    #[arg(long, env = "TESSERA_BOOTSTRAP_ACCOUNTS_JSON", hide_env_values = true)]
    pub bootstrap_accounts_json: Option<String>,
}

/// Flags of `dev` for the edges.
#[derive(Debug, Clone, Args)]
pub struct EdgeArgs {
    /// Also start the HTTP edge (with a demo web app behind it) and the line-protocol edge (with
    /// the demo job scheduler behind it), and print how to reach them. TESSERA_DEV_EDGES takes
    /// 1/0, true/false, yes/no or on/off.
    #[arg(
        long,
        env = "TESSERA_DEV_EDGES",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub edges: bool,
    /// Where the HTTP edge listens (with --edges).
    #[arg(long, env = "TESSERA_DEV_HTTP_EDGE", default_value = "127.0.0.1:8080")]
    pub http_edge_listen: SocketAddr,
    /// Where the line-protocol edge listens (with --edges).
    #[arg(long, env = "TESSERA_DEV_LINE_EDGE", default_value = "127.0.0.1:7070")]
    pub line_edge_listen: SocketAddr,
    /// Where the demo job scheduler behind the line edge listens (with --edges).
    #[arg(long, env = "TESSERA_DEV_LINE_DEMO", default_value = "127.0.0.1:7001")]
    pub line_demo_listen: SocketAddr,
    /// Where Envoy listens in front of the demo web app, asking the HTTP edge about every request
    /// (ext_authz), when Envoy is installed: the checkout's .tools/bin/envoy
    /// (scripts/install-tools.sh puts it there) or `envoy` on PATH (with --edges).
    #[arg(long, env = "TESSERA_DEV_ENVOY", default_value = "127.0.0.1:10000")]
    pub envoy_listen: SocketAddr,
}

/// `--feed-lease`, checked: long enough to renew on a busy machine, short enough that a frozen
/// follower delays a Revoke by little.
fn feed_lease(text: &str) -> anyhow::Result<std::time::Duration> {
    let lease = tessera_client::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("--feed-lease (TESSERA_FEED_LEASE): {e}"))?;
    let range = std::time::Duration::from_millis(50)..=std::time::Duration::from_secs(30);
    if !range.contains(&lease) {
        anyhow::bail!("--feed-lease (TESSERA_FEED_LEASE): between 50ms and 30s, got {text}");
    }
    Ok(lease)
}

impl AuthArgs {
    /// Validates the flags into settings; errors name the flag.
    pub fn settings(&self) -> anyhow::Result<AuthSettings> {
        let duration = |flag: &str, value: &str| {
            parse_ttl(value).map_err(|e| {
                anyhow::anyhow!(
                    "--{flag} (TESSERA_{}): {e}",
                    flag.replace('-', "_").to_uppercase()
                )
            })
        };
        let unlock_ttl_cap = duration("unlock-ttl-cap", &self.unlock_ttl_cap)?;
        if unlock_ttl_cap > UNLOCK_TTL_CEILING {
            anyhow::bail!(
                "--unlock-ttl-cap (TESSERA_UNLOCK_TTL_CAP): at most 1h, got {}",
                self.unlock_ttl_cap
            );
        }
        if self.max_failed_logins == 0 || self.max_failed_logins > 1000 {
            anyhow::bail!("--max-failed-logins (TESSERA_MAX_FAILED_LOGINS): between 1 and 1000");
        }
        let totp_key = self
            .totp_key
            .as_deref()
            .map(|k| {
                SealingKey::from_base64(k.trim())
                    .map_err(|e| anyhow::anyhow!("--totp-key (TESSERA_TOTP_KEY): {e}"))
            })
            .transpose()?;
        let root_password_hash = match &self.root_password_hash {
            Some(phc) if !phc.trim().starts_with("$argon2id$") => {
                anyhow::bail!("--root-password-hash (TESSERA_ROOT_PASSWORD_HASH): expected an argon2id PHC string from `tessera hash-password`")
            }
            other => other.as_ref().map(|phc| Redacted(phc.trim().to_owned())),
        };
        let defaults = AuthSettings::default();
        let settings = AuthSettings {
            session_ttl: duration("session-ttl", &self.session_ttl)?,
            unlock_ttl_cap,
            default_token_ttl: duration("default-token-ttl", &self.default_token_ttl)?,
            max_failed_logins: self.max_failed_logins as i32,
            lockout: duration("lockout", &self.lockout)?,
            hash_workers: self.hash_workers.unwrap_or(defaults.hash_workers).max(1),
            hash_queue: self.hash_queue,
            hash_per_source: self.hash_per_source,
            root_password_hash,
            totp_key: totp_key.map(Redacted),
            cache_enabled: !self.no_cache,
            cache_capacity: self.cache_capacity,
            watch_streams_per_caller: self.watch_streams_per_caller,
            writes_per_caller: self.writes_per_caller,
            feed_lease: feed_lease(&self.feed_lease)?,
            ..defaults
        };
        // The sweeper's flags depend on these (the feed's retention against token lifetimes):
        // checked here too, so a bad combination stops start-up before anything runs.
        self.sweeper_settings(&settings)?;
        Ok(settings)
    }

    /// The accounts of --bootstrap-accounts-json to create at start-up, checked.
    pub fn bootstrap_plan(&self) -> anyhow::Result<Option<BootstrapPlan>> {
        self.bootstrap_accounts_json
            .as_deref()
            .filter(|json| !json.trim().is_empty())
            .map(bootstrap::parse)
            .transpose()
            .map_err(Into::into)
    }

    /// Validates the sweeper's flags: the interval, the retentions, and whether a revocation
    /// retention shorter than the longest token lifetime of `auth` is accepted.
    pub fn sweeper_settings(&self, auth: &AuthSettings) -> anyhow::Result<SweeperSettings> {
        let interval = parse_ttl(&self.sweep_interval)
            .map_err(|e| anyhow::anyhow!("--sweep-interval (TESSERA_SWEEP_INTERVAL): {e}"))?;
        let revocations = match &self.revocation_retention {
            Some(text) => {
                let retention = parse_ttl(text).map_err(|e| {
                    anyhow::anyhow!("--revocation-retention (TESSERA_REVOCATION_RETENTION): {e}")
                })?;
                check_revocation_retention(retention, auth, self.revocation_retention_resync)?;
                retention
            }
            // Unset: a week, or longer when tokens live longer.
            None => Retention::default().revocations.max(longest_lifetime(auth)),
        };
        let audit = match self.audit_retention.trim() {
            "forever" => None,
            text => Some(parse_ttl(text).map_err(|e| {
                anyhow::anyhow!("--audit-retention (TESSERA_AUDIT_RETENTION): {e} (or `forever`)")
            })?),
        };
        Ok(SweeperSettings {
            max_interval: std::time::Duration::from_secs(interval.whole_seconds().max(1) as u64),
            retention: Retention { revocations, audit },
        })
    }
}

impl ListenArgs {
    /// Serve settings with this address and, when a certificate is given, TLS.
    pub fn settings(&self) -> anyhow::Result<ServeSettings> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
                watch_interval: parse_ttl(&self.tls_watch_interval)
                    .map_err(|e| {
                        anyhow::anyhow!("--tls-watch-interval (TESSERA_TLS_WATCH_INTERVAL): {e}")
                    })?
                    .unsigned_abs(),
            }),
            _ => None,
        };
        let shutdown_grace = parse_ttl(&self.shutdown_grace)
            .map_err(|e| anyhow::anyhow!("--shutdown-grace (TESSERA_SHUTDOWN_GRACE): {e}"))?
            .unsigned_abs();
        Ok(ServeSettings {
            listen: self.listen,
            metrics_listen: self.metrics_listen,
            tls,
            max_concurrent_streams: self.max_concurrent_streams,
            shutdown_grace,
            connections: self.connection_limits()?,
            ..ServeSettings::default()
        })
    }

    /// The listener's caps and deadlines, each checked and named when wrong.
    fn connection_limits(&self) -> anyhow::Result<ConnectionLimits> {
        if self.max_connections == 0 {
            anyhow::bail!("--max-connections (TESSERA_MAX_CONNECTIONS) must be at least 1");
        }
        if self.max_pending_per_source == 0 {
            anyhow::bail!(
                "--max-pending-per-source (TESSERA_MAX_PENDING_PER_SOURCE) must be at least 1"
            );
        }
        let positive = |text: &str, flag: &str| {
            let duration = parse_ttl(text)
                .map_err(|e| anyhow::anyhow!("{flag}: {e}"))?
                .unsigned_abs();
            if duration.is_zero() {
                anyhow::bail!("{flag}: must be above 0");
            }
            Ok(duration)
        };
        Ok(ConnectionLimits {
            max_connections: self.max_connections,
            max_pending_per_source: self.max_pending_per_source,
            preface_timeout: positive(
                &self.preface_timeout,
                "--preface-timeout (TESSERA_PREFACE_TIMEOUT)",
            )?,
            idle_timeout: positive(&self.idle_timeout, "--idle-timeout (TESSERA_IDLE_TIMEOUT)")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};

    #[test]
    fn bad_durations_name_the_flag() {
        let cli = Cli::try_parse_from(["tessera", "dev", "--unlock-ttl-cap", "2h"]).unwrap();
        let Command::Dev(dev) = cli.command else {
            panic!("dev")
        };
        let err = dev.auth.settings().unwrap_err().to_string();
        assert!(err.contains("--unlock-ttl-cap"), "{err}");
        let cli = Cli::try_parse_from(["tessera", "dev", "--session-ttl", "0s"]).unwrap();
        let Command::Dev(dev) = cli.command else {
            panic!("dev")
        };
        let err = dev.auth.settings().unwrap_err().to_string();
        assert!(err.contains("--session-ttl"), "{err}");
    }

    #[test]
    fn connection_limits_are_checked_and_name_the_flag() {
        for (args, flag) in [
            (["--max-connections", "0"], "--max-connections"),
            (
                ["--max-pending-per-source", "0"],
                "--max-pending-per-source",
            ),
            (["--preface-timeout", "0s"], "--preface-timeout"),
            (["--idle-timeout", "soon"], "--idle-timeout"),
        ] {
            let cli = Cli::try_parse_from(["tessera", "dev"].into_iter().chain(args)).unwrap();
            let Command::Dev(dev) = cli.command else {
                panic!("dev")
            };
            let err = dev.listen.settings().unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
        let cli = Cli::try_parse_from(["tessera", "dev", "--preface-timeout", "3s"]).unwrap();
        let Command::Dev(dev) = cli.command else {
            panic!("dev")
        };
        let limits = dev.listen.settings().unwrap().connections;
        assert_eq!(limits.preface_timeout, std::time::Duration::from_secs(3));
        assert_eq!(limits.max_pending_per_source, 256);
    }
}
