//! Typed settings, validated once at start-up from the command line. Library code never reads the
//! environment: the binary parses flags (each also a `TESSERA_*` variable) into these.

use std::{fmt, net::SocketAddr, time::Duration as StdDuration};

use tessera_core::{password::Argon2Params, seal::SealingKey};
use time::Duration;

/// A value that must never be printed (a database URL with a password, a hash, a key).
#[derive(Clone)]
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Everything the authentication service needs, already validated.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Lifetime of a login session.
    pub session_ttl: Duration,
    /// Longest an Unlock may last (never above one hour).
    pub unlock_ttl_cap: Duration,
    /// Lifetime of an issued token when the request names none (capped by the parent).
    pub default_token_ttl: Duration,
    /// Failed attempts before an account locks.
    pub max_failed_logins: i32,
    /// How long a lock lasts.
    pub lockout: Duration,
    /// argon2id parameters for new password hashes.
    pub argon2: Argon2Params,
    /// Threads verifying passwords at once.
    pub hash_workers: usize,
    /// Verifications that may wait for a thread before new ones are refused at once.
    pub hash_queue: usize,
    /// argon2 PHC hash of the break-glass root password, if configured.
    pub root_password_hash: Option<Redacted<String>>,
    /// Key sealing TOTP seeds and JWT signing keys at rest, if configured.
    pub totp_key: Option<Redacted<SealingKey>>,
    /// Whether to keep unlimited-use decisions in the replica's cache.
    pub cache_enabled: bool,
    /// Most cached decisions.
    pub cache_capacity: usize,
    /// Most places in the hashing pool (running or waiting) one client address may hold; 0 means
    /// a quarter of `hash_workers + hash_queue`, at least the workers plus one.
    pub hash_per_source: usize,
    /// Most WatchRevocations streams open at once per caller.
    pub watch_streams_per_caller: usize,
    /// Audited writes (IssueToken, Revoke) a `user` account may make per second on this replica,
    /// with five seconds' worth at once; 0 means no limit (`write_budget`).
    pub writes_per_caller: u32,
    /// How long a follower of the revocation feed (this replica's cache, an edge) may serve
    /// decisions from its cache after the database last proved it current; the longest a Revoke
    /// waits for a follower that stopped answering.
    pub feed_lease: StdDuration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::hours(12),
            unlock_ttl_cap: Duration::minutes(15),
            default_token_ttl: Duration::hours(1),
            max_failed_logins: 5,
            lockout: Duration::minutes(15),
            argon2: Argon2Params::default(),
            // Half the cores: argon2 (19 MiB per hash) hammers memory and caches, so hashing on
            // every core slows Introspect under a login flood however low its priority
            // (BENCHMARKS.md: p99 ×3 with one worker per core, ×1.2–1.7 with half).
            hash_workers: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            hash_queue: 64,
            hash_per_source: 0,
            root_password_hash: None,
            totp_key: None,
            cache_enabled: true,
            cache_capacity: 100_000,
            watch_streams_per_caller: 8,
            writes_per_caller: 100,
            feed_lease: StdDuration::from_millis(250),
        }
    }
}

/// The longest Unlock any configuration may allow.
pub const UNLOCK_TTL_CEILING: Duration = Duration::hours(1);

/// Where and how the gRPC server listens.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Longest a single RPC may run.
    pub request_timeout: StdDuration,
    /// How often the health check pings PostgreSQL.
    pub health_interval: StdDuration,
    /// Where to serve Prometheus metrics (`GET /metrics`); `None` serves none.
    pub metrics_listen: Option<SocketAddr>,
    /// TLS for the gRPC listener; `None` serves plaintext.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Most concurrent HTTP/2 streams per client connection.
    pub max_concurrent_streams: u32,
    /// How long in-flight calls may run on after SIGTERM before they are cut.
    pub shutdown_grace: StdDuration,
    /// Connection caps, the preface deadline and the idle timeout.
    pub connections: crate::connections::ConnectionLimits,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout: StdDuration::from_secs(30),
            health_interval: StdDuration::from_millis(500),
            metrics_listen: None,
            tls: None,
            max_concurrent_streams: 256,
            shutdown_grace: crate::drain::DEFAULT_SHUTDOWN_GRACE,
            connections: crate::connections::ConnectionLimits::default(),
        }
    }
}
