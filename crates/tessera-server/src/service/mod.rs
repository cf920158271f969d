//! The authority: Tessera's use cases (login, unlock, issue, introspect, check, revoke) orchestrated
//! over the pure domain (`tessera-core`) and the store. No wire types here: the gRPC adapters convert
//! requests into these calls and results back.

mod login;
mod tokens;
pub mod view;
mod watch;

use std::sync::Arc;

use serde_json::json;
use tessera_core::{
    clock::Clock,
    password::{Password, PasswordHasher},
    token::{check_format, TokenFormatError, TokenHash, TokenSecret},
};
use tessera_store::{
    audit::{self, AuditEvent},
    feed::RevocationFeed,
    tokens as token_store, PgPool,
};
use tracing::debug;

pub use self::login::LoginOutcome;
pub use self::tokens::{IssueRequest, IssuedToken, NamespaceVerdict, RevokeRequest};
use self::view::{decide, InactiveReason, Lookup, TokenView};
use crate::{cache::DecisionCache, error::ApiError, hash_pool::HashPool, settings::AuthSettings};

/// The authentication service's state, cheap to clone (everything shared behind `Arc`s).
#[derive(Clone)]
pub struct Authority {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    settings: Arc<AuthSettings>,
    hasher: Arc<PasswordHasher>,
    hash_pool: HashPool,
    cache: DecisionCache,
    feed: Option<RevocationFeed>,
}

impl Authority {
    /// Builds the authority. When `feed` is given, the cache follows it; without a feed the cache
    /// is never trusted (it stays empty).
    pub fn new(
        pool: PgPool,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
        feed: Option<&RevocationFeed>,
    ) -> Result<Authority, ApiError> {
        let hasher = PasswordHasher::new(settings.argon2)
            .map_err(|e| ApiError::Internal(format!("argon2 parameters rejected: {e}")))?;
        let cache = DecisionCache::new(settings.cache_enabled, settings.cache_capacity);
        if let Some(feed) = feed {
            cache.follow(feed);
        }
        Ok(Authority {
            pool,
            clock,
            hash_pool: HashPool::new(settings.hash_workers, settings.hash_queue),
            settings: Arc::new(settings),
            hasher: Arc::new(hasher),
            cache,
            feed: feed.cloned(),
        })
    }

    /// The database pool (health checks use it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The replica's decision cache.
    pub fn cache(&self) -> &DecisionCache {
        &self.cache
    }

    /// Whether the decision cache is in use right now (the revocation feed is live).
    pub fn cache_is_trusted(&self) -> bool {
        self.cache.is_trusted()
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

    /// Reads a token: from the cache when possible, else in one SQL statement that, with `consume`,
    /// also counts one use of a limited-use token.
    pub async fn lookup(&self, secret: &str, consume: bool) -> Result<Lookup, ApiError> {
        match check_format(secret) {
            Ok(_) | Err(TokenFormatError::NotTessera) => {}
            // A typo or a scanner's find: refused without touching the database.
            Err(_) => return Ok(Lookup::Inactive(InactiveReason::Malformed)),
        }
        let hash = TokenHash::of(secret);
        let now = self.clock.now();
        if let Some(view) = self.cache.get(&hash, now) {
            return Ok(Lookup::Active((*view).clone()));
        }
        let epoch = self.cache.epoch();
        let record = token_store::lookup(&self.pool, &hash, now, consume).await?;
        let lookup = decide(record, now, consume)?;
        if let Lookup::Active(view) = &lookup {
            self.cache.insert(hash, view, epoch);
        }
        Ok(lookup)
    }

    /// Authenticates the caller's bearer token. Every authenticated call counts as one use of a
    /// limited-use caller token.
    pub async fn authenticate(&self, bearer: Option<&TokenSecret>) -> Result<TokenView, ApiError> {
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
        event: AuditEvent,
    ) -> Result<(), ApiError> {
        audit::record(conn, &event).await.map_err(ApiError::from)
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
