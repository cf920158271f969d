//! The edge's decision cache: what `Introspect` said about an active, unlimited-use token, kept
//! for a few seconds so a repeated forward-auth costs no gRPC round trip.
//!
//! It follows the rules of the server's own cache (`tessera-server`'s `cache.rs`):
//!
//! * only unlimited-use tokens are cached: every use of a limited-use token must reach Tessera,
//!   which counts it in PostgreSQL;
//! * an entry dies at the token's expiry or after `--decision-cache-ttl`, whichever is first;
//! * keyed by the SHA-256 of the token (the key `WatchRevocations` publishes), never the token;
//! * **trusted only while the revocation feed is followed under a lease**: until the first
//!   `Connected`, from a disconnect until the next one, and after a lost place
//!   (`RESYNC_REQUIRED`), it is emptied and bypassed, so every request goes to Tessera; and it is
//!   bypassed whenever the lease the database granted (by proving the edge applied every
//!   revocation committed so far) has run out, then emptied before the next lease is used: a
//!   silent stream or a frozen replica costs at most one lease, and a Revoke waits for this
//!   edge's acknowledgement or for that lease;
//! * a revocation from the feed drops the entries it names (by token hash, token id, or the
//!   session a token derives from) before the feed is read further; the edge's own revocations
//!   (logout, lock) drop theirs at once;
//! * an answer whose call began before an invalidation is not inserted (the epoch counter), so a
//!   revocation that overtakes an `Introspect` in flight cannot be undone by its stale answer;
//! * at most `--decision-cache-size` entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use tessera_client::{Client, Error, Introspection, Revocation, RevocationFollower};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tracing::{debug, error, info};

use crate::metrics::{CacheLookup, EdgeMetrics};

/// The cache key: the token's hash as Tessera stores it (`tessera_rules::token::TokenHash`),
/// which is also what the feed names a revoked token by.
pub use tessera_rules::token::TokenHash;

/// How the cache is sized; a zero `ttl` or `capacity` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Longest an answer is reused.
    pub ttl: Duration,
    /// Most entries held.
    pub capacity: usize,
}

impl CacheSettings {
    /// Whether anything is ever cached.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }
}

#[derive(Debug)]
struct CachedAnswer {
    answer: Arc<Introspection>,
    until: Instant,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<TokenHash, CachedAnswer>,
    /// Token ids and session ids → the keys of the entries carrying them.
    by_id: HashMap<String, Vec<TokenHash>>,
}

impl Entries {
    fn insert(&mut self, key: TokenHash, entry: CachedAnswer) {
        self.remove(&key);
        for id in [&entry.answer.token_id, &entry.answer.session_id] {
            if !id.is_empty() {
                self.by_id.entry(id.clone()).or_default().push(key);
            }
        }
        self.by_key.insert(key, entry);
    }

    fn remove(&mut self, key: &TokenHash) -> bool {
        let Some(entry) = self.by_key.remove(key) else {
            return false;
        };
        for id in [&entry.answer.token_id, &entry.answer.session_id] {
            if let Some(keys) = self.by_id.get_mut(id) {
                keys.retain(|k| k != key);
                if keys.is_empty() {
                    self.by_id.remove(id);
                }
            }
        }
        true
    }

    /// Drops every entry of the token `id`, or deriving from the session `id`.
    fn remove_id(&mut self, id: &str) -> usize {
        let keys = self.by_id.remove(id).unwrap_or_default();
        keys.iter().filter(|key| self.remove(key)).count()
    }

    fn clear(&mut self) {
        self.by_key.clear();
        self.by_id.clear();
    }
}

#[derive(Debug)]
struct AnswerTable {
    settings: CacheSettings,
    entries: RwLock<Entries>,
    /// The feed is followed and nothing was missed since the entries were taken.
    trusted: AtomicBool,
    /// The lease: nanoseconds after `base` until which entries may be served.
    lease_until: AtomicU64,
    base: Instant,
    /// Bumped, under the write lock, by every invalidation.
    epoch: AtomicU64,
    metrics: EdgeMetrics,
}

/// Shared handle to the cache; a disabled cache holds nothing and is never consulted.
#[derive(Debug, Clone)]
pub struct AnswerCache {
    inner: Option<Arc<AnswerTable>>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        Self::disabled()
    }
}

/// Taken before calling Tessera; the answer may be cached only if nothing was invalidated since.
#[derive(Debug, Clone, Copy)]
pub struct AnswerEpoch(u64);

impl AnswerCache {
    /// A cache that never holds anything.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// An empty, not yet trusted cache (see [`AnswerCache::follow`]); disabled when `settings`
    /// say so.
    pub fn new(settings: CacheSettings, metrics: EdgeMetrics) -> Self {
        if !settings.enabled() {
            return Self::disabled();
        }
        metrics.feed_connected(false);
        Self {
            inner: Some(Arc::new(AnswerTable {
                settings,
                entries: RwLock::default(),
                trusted: AtomicBool::new(false),
                lease_until: AtomicU64::new(0),
                base: Instant::now(),
                epoch: AtomicU64::new(0),
                metrics,
            })),
        }
    }

    /// Whether the cache is on at all.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether entries may be served right now (the feed is followed under a lease).
    pub fn is_trusted(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.is_current())
    }

    /// Follows the revocation feed on `client` (which holds the edge's service token) until the
    /// handle is aborted; the cache is trusted only while it is followed. `None` when disabled.
    pub fn follow(&self, client: &Client) -> Option<JoinHandle<()>> {
        let inner = self.inner.clone()?;
        let name = format!("edge-http pid {}", std::process::id());
        Some(client.follow_revocations(inner, &name))
    }

    /// The cached answer for `key`, if trusted and still fresh.
    pub fn get(&self, key: &TokenHash) -> Option<Arc<Introspection>> {
        let inner = self.inner.as_ref()?;
        if !inner.is_current() {
            inner.metrics.cache_lookup(CacheLookup::Bypass);
            return None;
        }
        let now = Instant::now();
        let stale = {
            let entries = inner.read();
            match entries.by_key.get(key) {
                Some(entry) if entry.until > now => {
                    inner.metrics.cache_lookup(CacheLookup::Hit);
                    return Some(Arc::clone(&entry.answer));
                }
                Some(_) => true,
                None => false,
            }
        };
        if stale {
            let mut entries = inner.write();
            if entries.by_key.get(key).is_some_and(|e| e.until <= now) {
                entries.remove(key);
            }
        }
        inner.metrics.cache_lookup(CacheLookup::Miss);
        None
    }

    /// Marks the start of a call to Tessera.
    pub fn epoch(&self) -> AnswerEpoch {
        AnswerEpoch(
            self.inner
                .as_ref()
                .map_or(0, |inner| inner.epoch.load(Ordering::Acquire)),
        )
    }

    /// Keeps `answer` for `key`, when it is the answer of an active, unlimited-use token that
    /// expires later than now, and nothing was invalidated since `epoch`.
    pub fn insert(&self, key: TokenHash, answer: &Introspection, epoch: AnswerEpoch) {
        let Some(inner) = &self.inner else {
            return;
        };
        if !answer.active || answer.uses_remaining.is_some() {
            return;
        }
        let mut lifetime = inner.settings.ttl;
        if let Some(expires_at) = answer.expires_at {
            let left = expires_at - OffsetDateTime::now_utc();
            match Duration::try_from(left) {
                Ok(left) if !left.is_zero() => lifetime = lifetime.min(left),
                _ => return,
            }
        }
        let until = Instant::now() + lifetime;
        let mut entries = inner.write();
        // Checked under the write lock: invalidations take it too, so none slips in between.
        if !inner.is_current() || inner.epoch.load(Ordering::Acquire) != epoch.0 {
            return;
        }
        if entries.by_key.len() >= inner.settings.capacity && !entries.by_key.contains_key(&key) {
            // Full: drop an arbitrary entry (the map's order is randomly seeded), so a full cache
            // keeps serving the tokens in use now rather than the first ones seen.
            if let Some(victim) = entries.by_key.keys().next().copied() {
                entries.remove(&victim);
            }
        }
        entries.insert(
            key,
            CachedAnswer {
                answer: Arc::new(answer.clone()),
                until,
            },
        );
        inner.metrics.cache_entries(entries.by_key.len());
    }

    /// Drops the entry of a token the edge itself just revoked (logout, lock), and anything
    /// derived from it.
    pub fn forget(&self, key: &TokenHash) {
        if let Some(inner) = &self.inner {
            let mut entries = inner.invalidate();
            if let Some(id) = entries.by_key.get(key).map(|e| e.answer.token_id.clone()) {
                entries.remove_id(&id);
            }
            entries.remove(key);
            inner.metrics.cache_entries(entries.by_key.len());
        }
    }

    /// Applies a revocation as if the feed had delivered it (for tests of the edge's logic).
    pub fn record(&self, token_hash: &str, token_id: &str) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.evict(token_hash, token_id))
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.read().by_key.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AnswerTable {
    fn since_base(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Followed, and within the lease.
    fn is_current(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
            && self.since_base(Instant::now()) < self.lease_until.load(Ordering::Acquire)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The write lock, with the epoch bumped so calls in flight do not insert.
    fn invalidate(&self) -> RwLockWriteGuard<'_, Entries> {
        let entries = self.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries
    }

    fn evict(&self, token_hash: &str, token_id: &str) -> usize {
        let mut entries = self.invalidate();
        let mut dropped = 0;
        if let Some(key) = TokenHash::from_hex(token_hash) {
            dropped += usize::from(entries.remove(&key));
        }
        if !token_id.is_empty() {
            dropped += entries.remove_id(token_id);
        }
        self.metrics.cache_entries(entries.by_key.len());
        dropped
    }

    /// Stops trusting the cache and empties it.
    fn distrust(&self) -> usize {
        let mut entries = self.invalidate();
        self.trusted.store(false, Ordering::Release);
        let dropped = entries.by_key.len();
        entries.clear();
        self.metrics.cache_entries(0);
        self.metrics.feed_connected(false);
        dropped
    }
}

impl RevocationFollower for AnswerTable {
    fn connected(&self, after_sequence: u64) {
        {
            let _entries = self.invalidate();
            self.trusted.store(true, Ordering::Release);
        }
        self.metrics.feed_connected(true);
        info!(
            after_sequence,
            "following the revocation feed; decision cache on"
        );
    }

    fn revoked(&self, revocation: &Revocation) {
        let dropped = self.evict(&revocation.token_hash, &revocation.token_id);
        if dropped > 0 {
            debug!(token_id = %revocation.token_id, dropped, "cached decisions revoked");
        }
    }

    fn lost_place(&self, oldest_sequence: Option<u64>) {
        let dropped = self.distrust();
        error!(
            ?oldest_sequence,
            dropped,
            "the revocation feed lost its place; decision cache emptied until it is followed again"
        );
    }

    fn renewed(&self, until: Instant) {
        if self.trusted.load(Ordering::Acquire) && !self.is_current() {
            // The lease ran out: a Revoke may have stopped waiting for this edge meanwhile.
            // Nothing held from before is served again.
            let mut entries = self.invalidate();
            entries.clear();
            self.metrics.cache_entries(0);
            debug!("decision cache lease renewed after it ran out; cache emptied");
        }
        self.lease_until
            .store(self.since_base(until), Ordering::Release);
    }

    fn disconnected(&self, error: &Error) {
        let was_trusted = self.trusted.load(Ordering::Acquire);
        let dropped = self.distrust();
        if was_trusted {
            info!(
                reason = error.wire_reason(),
                dropped, "revocation feed down; decision cache off until it is back"
            );
        } else {
            debug!(
                reason = error.wire_reason(),
                message = error.message(),
                "revocation feed down"
            );
        }
    }
}

#[cfg(test)]
mod tests;
