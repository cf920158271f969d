//! The authority: Tessera's use cases (login, unlock, issue, introspect, check, revoke) orchestrated
//! over the pure domain (`tessera-core`) and the store. No wire types here: the gRPC adapters convert
//! requests into these calls and results back.

pub mod admin;
pub mod jwt;
mod login;
mod mint;
pub mod misses;
pub mod propagation;
mod tokens;
pub mod view;
mod watch;

use std::sync::Arc;
use tracing::Instrument as _;

use serde_json::json;
use tessera_core::{
    clock::Clock,
    jwt::looks_like_jwt,
    password::{Password, PasswordHasher},
};
use tessera_rules::token::{check_format, TokenFormatError, TokenHash, TokenSecret};
use tessera_store::{
    audit::{self, AuditEvent},
    feed::{FeedSettings, RevocationFeed},
    leases::Follower,
    PgPool,
};
use tracing::debug;

pub use self::jwt::SigningKeys;
pub use self::login::LoginOutcome;
pub use self::tokens::{
    IssueFormat, IssueRequest, IssuedToken, NamespaceVerdict, RevokeOutcome, RevokeRequest,
};
use self::view::{decide, InactiveReason, Lookup, TokenView};
pub use self::watch::{Frame, WatchFrom};
use crate::{cache::DecisionCache, error::ApiError, hash_pool::HashPool, settings::AuthSettings};

/// Where a replica follows the revocation feed.
#[derive(Debug, Clone)]
pub struct FeedSource {
    /// Direct PostgreSQL sessions (the feed LISTENs; a transaction pooler cannot carry that).
    pub pool: PgPool,
    /// This replica's name in the followers table (what a waiting Revoke reports).
    pub name: String,
}

/// The authentication service's state, cheap to clone (everything shared behind `Arc`s).
#[derive(Clone)]
pub struct Authority {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    settings: Arc<AuthSettings>,
    hasher: Arc<PasswordHasher>,
    hash_pool: HashPool,
    cache: DecisionCache,
    misses: misses::MissBatcher,
    feed: Option<RevocationFeed>,
    keys: SigningKeys,
    watchers: watch::Watchers,
    drain: crate::drain::Drain,
    writes: Arc<crate::write_budget::WriteBudget>,
}

impl Authority {
    /// Builds the authority. With a `feed`, the revocation feed is followed on its pool (direct
    /// PostgreSQL sessions: it LISTENs) and the cache is trusted under its lease; without one the
    /// cache is never trusted (it stays empty).
    pub fn new(
        pool: PgPool,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
        feed: Option<FeedSource>,
    ) -> Result<Authority, ApiError> {
        let hasher = PasswordHasher::new(settings.argon2)
            .map_err(|e| ApiError::Internal(format!("argon2 parameters rejected: {e}")))?;
        let cache = DecisionCache::new(settings.cache_enabled, settings.cache_capacity);
        let feed = feed.map(|source| {
            let lease = settings.feed_lease;
            let settings = FeedSettings {
                lease,
                heartbeat: lease / 5,
                step_timeout: (lease * 2).max(std::time::Duration::from_millis(500)),
                follower: Follower {
                    id: uuid::Uuid::new_v4(),
                    kind: "replica",
                    name: source.name,
                },
            };
            RevocationFeed::start(source.pool, settings, Arc::new(cache.clone()))
        });
        let settings_writes_per_caller = settings.writes_per_caller;
        let keys = SigningKeys::new(
            pool.clone(),
            settings.totp_key.as_ref().map(|key| key.0.clone()),
        );
        Ok(Authority {
            misses: misses::MissBatcher::new(pool.clone()),
            pool,
            clock,
            hash_pool: HashPool::new(
                settings.hash_workers,
                settings.hash_queue,
                settings.hash_per_source,
            ),
            settings: Arc::new(settings),
            hasher: Arc::new(hasher),
            cache,
            feed,
            keys,
            watchers: watch::Watchers::default(),
            drain: crate::drain::Drain::new(),
            writes: Arc::new(crate::write_budget::WriteBudget::new(
                settings_writes_per_caller,
            )),
        })
    }

    /// Listens for JWT key changes on `listen_pool` instead of the query pool: a direct
    /// connection when queries go through a transaction pooler. Call before the keys start.
    pub fn listening_on(mut self, listen_pool: PgPool) -> Authority {
        self.keys = SigningKeys::with_listener(
            self.pool.clone(),
            listen_pool,
            self.settings.totp_key.as_ref().map(|key| key.0.clone()),
        );
        self
    }

    /// The database pool (health checks use it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether this replica is draining (SIGTERM); long-lived streams end when it starts.
    pub fn drain(&self) -> &crate::drain::Drain {
        &self.drain
    }

    /// The replica's decision cache.
    pub fn cache(&self) -> &DecisionCache {
        &self.cache
    }

    /// How many cache misses were read from PostgreSQL, and in how many statements.
    pub fn miss_stats(&self) -> &misses::MissStats {
        self.misses.stats()
    }

    /// Whether the decision cache is in use right now (the revocation feed is live).
    pub fn cache_is_trusted(&self) -> bool {
        self.cache.is_trusted()
    }

    /// The replica's JWT signing keys.
    pub fn signing_keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// Loads the JWT keys (creating a first one when none exists and this replica can seal it)
    /// and follows key changes from then on.
    pub async fn start_signing_keys(&self) {
        self.keys.start(self.clock.now()).await;
    }

    /// The public keys that verify Tessera JWTs right now.
    pub fn jwks(&self) -> tessera_core::jwt::Jwks {
        self.keys.jwks(self.clock.now())
    }

    /// The password-hashing pool.
    pub fn hash_pool(&self) -> &HashPool {
        &self.hash_pool
    }

    /// Hashes a password on the bounded pool (bootstrap and `user add` use it too).
    pub async fn hash_password(&self, password: Password) -> Result<String, ApiError> {
        let hasher = Arc::clone(&self.hasher);
        self.hash_pool
            .run(move || hasher.hash(&password))
            .await?
            .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))
    }

    /// Reads a token: from the cache when possible, else with one plain indexed read; only a live
    /// limited-use token read with `consume` costs a second statement, the one that counts its use.
    ///
    /// A JWT is judged by its own signature first: a forged, foreign or expired one is inactive
    /// without a database read. A genuine one is then read like any token (by the hash of its
    /// text), so revocation, use limits and disabled accounts apply to it unchanged.
    pub async fn lookup(&self, secret: &str, consume: bool) -> Result<Lookup, ApiError> {
        let now = self.clock.now();
        let jti = if looks_like_jwt(secret) {
            match self.keys.verify(secret, now).await {
                Ok(claims) => Some(claims.jti),
                Err(err) => {
                    debug!(reason = %err, "jwt refused before the store");
                    return Ok(Lookup::Inactive(InactiveReason::from(err)));
                }
            }
        } else {
            match check_format(secret) {
                Ok(_) | Err(TokenFormatError::NotTessera) => {}
                // An operator-chosen master token (`tessera token set`) carries no checksum.
                Err(_) if secret.starts_with(tessera_rules::token::MASTER_PREFIX) => {}
                // A typo or a scanner's find: refused without touching the database.
                Err(_) => return Ok(Lookup::Inactive(InactiveReason::Malformed)),
            }
            None
        };
        let hash = TokenHash::of(secret);
        // A hit takes well under a microsecond and gets no span of its own: a span per lookup
        // (two per Introspect) cost more than the lookup. A miss shows as its `db` span.
        let lookup = if let Some(view) = self.cache.get(&hash, now) {
            Lookup::Active(view)
        } else {
            let epoch = self.cache.epoch();
            // Concurrent misses share one statement (see `misses`); the span covers this caller's
            // wait for its row, its own statement or its share of a batched one.
            let record = self
                .misses
                .lookup(hash, now, consume)
                .instrument(crate::service::store_span("SELECT", "tokens::lookup"))
                .await?;
            let lookup = decide(record, now, consume)?;
            // Master tokens are never cached: a reset from the CLI must bite on the very next call.
            if let Lookup::Active(view) = &lookup {
                if view.kind != tessera_rules::token::TokenKind::Master {
                    self.cache.insert(hash, view, epoch);
                }
            }
            lookup
        };
        match (&lookup, jti) {
            // The row is found by the token's own hash, so this only fails if the store was
            // tampered with; refuse rather than answer for another token.
            (Lookup::Active(view), Some(jti)) if view.id.to_string() != jti => {
                Ok(Lookup::Inactive(InactiveReason::Unverified))
            }
            _ => Ok(lookup),
        }
    }

    /// Authenticates the caller's bearer token. Every authenticated call counts as one use of a
    /// limited-use caller token.
    pub async fn authenticate(
        &self,
        bearer: Option<&TokenSecret>,
    ) -> Result<Arc<TokenView>, ApiError> {
        let bearer = bearer.ok_or(ApiError::AuthRequired)?;
        match self.lookup(bearer.expose(), true).await? {
            Lookup::Active(view) => Ok(view),
            Lookup::Inactive(reason) => {
                debug!(reason = reason.as_str(), "caller token refused");
                Err(ApiError::AuthFailed)
            }
        }
    }

    async fn audit(
        &self,
        conn: &mut sqlx_conn::PgConnection,
        mut event: AuditEvent,
    ) -> Result<(), ApiError> {
        // Under mutual TLS the client's certificate says which service made the call.
        if let Some(certificate) = crate::tls::current_client_certificate() {
            if !event.detail.is_object() {
                event.detail = serde_json::json!({});
            }
            event.detail["client_certificate"] = certificate.to_json();
        }
        audit::record(conn, &event)
            .instrument(crate::service::store_span("INSERT", "audit::record"))
            .await
            .map_err(ApiError::from)?;
        log_audit_event(&event);
        Ok(())
    }

    fn event(&self, action: &'static str, outcome: &'static str) -> AuditEvent {
        AuditEvent {
            at: self.clock.now(),
            action,
            outcome,
            actor: None,
            username: None,
            token_id: None,
            detail: json!({}),
        }
    }
}

/// The store's connection type, named once for the service modules.
mod sqlx_conn {
    pub use tessera_store::PgConnection;
}

/// The span of one store call (one SQL statement, or one step of a transaction): what an operator
/// needs to see where a request's time went, never a value (no token, hash or password; the token
/// id at most, recorded by the caller).
pub(crate) fn store_span(operation: &'static str, call: &'static str) -> tracing::Span {
    tracing::info_span!(
        "db",
        otel.name = call,
        otel.kind = "client",
        db.system = "postgresql",
        db.operation = operation,
        code.function = call,
    )
}

/// Version of the audit log event's field set ([`log_audit_event`]); bumped on any change that is
/// not a pure addition.
pub const AUDIT_LOG_SCHEMA: u32 = 1;

/// Writes an audit event as a structured log event too (target `tessera::audit`), so a log
/// shipper gets the audit trail without reading the table. With `--log-format json` each one is a
/// JSON line whose `fields` hold exactly: `message` ("audit event"), `audit_schema`, `at`
/// (RFC 3339), `action`, `outcome`, `actor` (account UUID or ""), `username` (or ""), `token_id`
/// (or ""), `detail` (the event's JSON detail, as a string). The schema is documented in
/// `docs/operations.md`. Events carry identifiers only: no token, password or TOTP code.
pub fn log_audit_event(event: &AuditEvent) {
    let at = event
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let actor = event.actor.map(|id| id.to_string()).unwrap_or_default();
    let token_id = event.token_id.map(|id| id.to_string()).unwrap_or_default();
    tracing::info!(
        target: "tessera::audit",
        audit_schema = AUDIT_LOG_SCHEMA,
        at = %at,
        action = event.action,
        outcome = event.outcome,
        actor = %actor,
        username = event.username.as_deref().unwrap_or_default(),
        token_id = %token_id,
        detail = %event.detail,
        "audit event"
    );
}
