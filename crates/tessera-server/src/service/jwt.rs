//! JWT signing keys inside one replica. The key set is loaded from the store at start (a first key
//! is created when there is none), reloaded whenever `tessera keys rotate` or another replica
//! announces a change, on a timer as a safety net, and, at most once a second, when a token names
//! a `kid` this replica has not seen yet. Signing and verifying themselves are pure
//! (`tessera_core::jwt`) and cheap (tens of microseconds), so they run inline.

use std::{
    sync::{Arc, RwLock, Weak},
    time::Duration,
};
use tracing::Instrument as _;

use tessera_core::{
    jwt::{self, Claims, Jwks, JwtError, JwtPublicKey, JwtSigningKey, UnverifiedJwt},
    seal::SealingKey,
};

use tessera_rules::{grant::Grant, token::TokenKind};
use tessera_store::{
    keys::{self as key_store, KeyChanges, NewSigningKey, SigningKeyRow},
    PgPool, StoreError,
};
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::view::TokenView;

/// How often keys are reloaded even without a notification.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Least time between two reloads triggered by requests (unknown `kid`, no signing key yet), so
/// made-up kids cannot turn into a stream of database reads.
const MIN_ON_DEMAND_GAP: Duration = Duration::from_secs(1);
/// Wait before listening again after the listening connection failed.
const RELISTEN_DELAY: Duration = Duration::from_secs(2);

/// The replica's JWT keys; cheap to clone.
#[derive(Clone)]
pub struct SigningKeys {
    inner: Arc<KeyRing>,
}

struct KeyRing {
    pool: PgPool,
    /// Where LISTEN runs: a session of its own, never a transaction-pooled connection.
    listen_pool: PgPool,
    /// Seals and opens private keys; without it this replica verifies but never signs.
    sealer: Option<SealingKey>,
    set: RwLock<KeySet>,
    /// Held while a request-triggered reload runs; remembers when the last one started.
    on_demand: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct KeySet {
    /// Every stored key with the time it stops verifying.
    public: Vec<(JwtPublicKey, Option<OffsetDateTime>)>,
    /// The newest unretired key, opened.
    signer: Option<Arc<JwtSigningKey>>,
}

impl SigningKeys {
    /// An empty key set over `pool`; [`SigningKeys::start`] loads it.
    pub fn new(pool: PgPool, sealer: Option<SealingKey>) -> SigningKeys {
        SigningKeys::with_listener(pool.clone(), pool, sealer)
    }

    /// As [`SigningKeys::new`], listening for key changes on `listen_pool` (a direct connection
    /// to PostgreSQL when `pool` goes through a transaction pooler such as PgBouncer).
    pub fn with_listener(
        pool: PgPool,
        listen_pool: PgPool,
        sealer: Option<SealingKey>,
    ) -> SigningKeys {
        SigningKeys {
            inner: Arc::new(KeyRing {
                pool,
                listen_pool,
                sealer,
                set: RwLock::new(KeySet::default()),
                on_demand: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Creates a first key if none is current, loads the set, and follows changes from then on.
    /// A database that is down now is not fatal: the follower keeps trying.
    pub async fn start(&self, now: OffsetDateTime) {
        match self.ensure_and_reload(now).await {
            Ok(()) => {}
            Err(err) => warn!(error = %err, "jwt signing keys not loaded yet; retrying"),
        }
        if self.inner.sealer.is_none() {
            info!("no --totp-key configured: this replica verifies JWTs but cannot issue them");
        }
        tokio::spawn(follow(Arc::downgrade(&self.inner)));
    }

    /// Reads every key from the store and replaces the in-memory set.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let rows = key_store::list(&self.inner.pool)
            .instrument(crate::service::store_span("SELECT", "keys::list"))
            .await?;
        let set = self.key_set(&rows);
        *self.inner.set.write().unwrap_or_else(|p| p.into_inner()) = set;
        Ok(())
    }

    /// Verifies a JWT's header, key, signature, issuer and expiry at `now`.
    pub async fn verify(&self, text: &str, now: OffsetDateTime) -> Result<Claims, JwtError> {
        let jwt = UnverifiedJwt::parse(text)?;
        let key = match self.find(jwt.kid(), now) {
            Some(key) => key,
            None => {
                self.reload_on_demand(now, false).await;
                self.find(jwt.kid(), now).ok_or(JwtError::UnknownKey)?
            }
        };
        jwt.verify(&key, now)
    }

    /// The key new tokens are signed with, if this replica can sign.
    pub async fn signer(&self, now: OffsetDateTime) -> Option<Arc<JwtSigningKey>> {
        if let Some(signer) = self.current_signer() {
            return Some(signer);
        }
        self.inner.sealer.as_ref()?;
        self.reload_on_demand(now, true).await;
        self.current_signer()
    }

    /// Whether this replica holds the key that seals private keys (and so may sign).
    pub fn can_sign(&self) -> bool {
        self.inner.sealer.is_some()
    }

    /// The public keys that still verify at `now`, oldest first.
    pub fn jwks(&self, now: OffsetDateTime) -> Jwks {
        let set = self.inner.set.read().unwrap_or_else(|p| p.into_inner());
        Jwks::of(
            set.public
                .iter()
                .filter(|(_, not_after)| not_after.is_none_or(|at| at > now))
                .map(|(key, _)| key),
        )
    }

    fn find(&self, kid: &str, now: OffsetDateTime) -> Option<JwtPublicKey> {
        let set = self.inner.set.read().unwrap_or_else(|p| p.into_inner());
        set.public
            .iter()
            .find(|(key, not_after)| key.kid() == kid && not_after.is_none_or(|at| at > now))
            .map(|(key, _)| key.clone())
    }

    fn current_signer(&self) -> Option<Arc<JwtSigningKey>> {
        let set = self.inner.set.read().unwrap_or_else(|p| p.into_inner());
        set.signer.clone()
    }

    /// Reloads unless a request-triggered reload started less than a second ago; concurrent
    /// callers wait for the one in flight instead of starting their own.
    async fn reload_on_demand(&self, now: OffsetDateTime, ensure: bool) {
        let mut last = self.inner.on_demand.lock().await;
        if last.is_some_and(|at| at.elapsed() < MIN_ON_DEMAND_GAP) {
            return;
        }
        *last = Some(Instant::now());
        let reloaded = if ensure {
            self.ensure_and_reload(now).await
        } else {
            self.reload().await
        };
        if let Err(err) = reloaded {
            debug!(error = %err, "reloading jwt signing keys failed");
        }
    }

    async fn ensure_and_reload(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(sealer) = &self.inner.sealer {
            let (key, row) = seal_new_key(sealer, now);
            if key_store::insert_if_none_current(&self.inner.pool, &row)
                .instrument(crate::service::store_span(
                    "INSERT",
                    "keys::insert_if_none_current",
                ))
                .await?
            {
                info!(kid = key.kid(), "created the first jwt signing key");
            }
        }
        self.reload().await
    }

    fn key_set(&self, rows: &[SigningKeyRow]) -> KeySet {
        let public = rows
            .iter()
            .filter_map(
                |row| match JwtPublicKey::from_bytes(&row.kid, &row.public_key) {
                    Ok(key) => Some((key, row.not_after)),
                    Err(err) => {
                        error!(kid = %row.kid, error = %err, "stored jwt public key is unusable");
                        None
                    }
                },
            )
            .collect();
        // Rows come oldest first: the newest unretired key signs.
        let signer = rows
            .iter()
            .rev()
            .find(|row| row.retired_at.is_none())
            .and_then(|row| {
                let sealer = self.inner.sealer.as_ref()?;
                let opened = sealer
                    .open(&row.private_sealed)
                    .map_err(|e| e.to_string())
                    .and_then(|seed| {
                        JwtSigningKey::from_seed(&row.kid, &seed).map_err(|e| e.to_string())
                    });
                match opened {
                    Ok(key) => Some(Arc::new(key)),
                    Err(err) => {
                        error!(kid = %row.kid, error = %err, "the current jwt signing key does not open with the configured --totp-key; JWTs cannot be issued until `tessera keys rotate` runs with that key");
                        None
                    }
                }
            });
        KeySet { public, signer }
    }
}

/// Follows key changes until the key set is dropped: listen, reload, then reload on every
/// notification or every [`REFRESH_INTERVAL`], listening again when the connection fails.
async fn follow(inner: Weak<KeyRing>) {
    loop {
        let Some(keys) = inner.upgrade().map(|inner| SigningKeys { inner }) else {
            return;
        };
        let listening = KeyChanges::listen(&keys.inner.listen_pool).await;
        // After listening starts, so no change can fall between the read and the subscription.
        if let Err(err) = keys.reload().await {
            debug!(error = %err, "reloading jwt signing keys failed");
        }
        let mut changes = match listening {
            Ok(changes) => changes,
            Err(err) => {
                debug!(error = %err, "cannot listen for jwt key changes; polling");
                drop(keys);
                tokio::time::sleep(RELISTEN_DELAY).await;
                continue;
            }
        };
        drop(keys);
        loop {
            let woke = tokio::time::timeout(REFRESH_INTERVAL, changes.changed()).await;
            let Some(keys) = inner.upgrade().map(|inner| SigningKeys { inner }) else {
                return;
            };
            if let Ok(Err(err)) = woke {
                debug!(error = %err, "jwt key change listener lost its connection");
                break;
            }
            if let Err(err) = keys.reload().await {
                debug!(error = %err, "reloading jwt signing keys failed");
            }
        }
    }
}

/// A fresh key and the row that stores it, its private half sealed with `sealer`.
pub fn seal_new_key(sealer: &SealingKey, now: OffsetDateTime) -> (JwtSigningKey, NewSigningKey) {
    let key = JwtSigningKey::generate(jwt::new_kid(now));
    let row = NewSigningKey {
        kid: key.kid().to_owned(),
        public_key: key.public_key().to_bytes(),
        private_sealed: sealer.seal(key.seed().as_ref()),
        created_at: now,
    };
    (key, row)
}

/// The claims of a JWT issued as `token_id` under `grant`, derived from `caller`.
pub fn claims_for(
    token_id: Uuid,
    caller: &TokenView,
    grant: &Grant,
    kind: TokenKind,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Claims {
    Claims {
        iss: jwt::ISSUER.into(),
        sub: caller.subject.map(|s| s.to_string()),
        jti: token_id.to_string(),
        iat: now.unix_timestamp(),
        nbf: Some(now.unix_timestamp()),
        exp: expires_at.unix_timestamp(),
        namespace: grant.namespace.as_str().to_owned(),
        permissions: grant.permissions.to_vec(),
        kind: Some(kind.as_str().to_owned()),
        max_uses: grant.uses_remaining,
        sid: caller.session_id.map(|s| s.to_string()),
    }
}
