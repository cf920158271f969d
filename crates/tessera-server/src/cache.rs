//! The replica's decision cache: token hash → the facts of an active, unlimited-use token, so a
//! repeated Introspect costs no database read.
//!
//! Safety rules: limited-use tokens are never cached (each use is counted in PostgreSQL); entries
//! die at the token's expiry; every revocation, local or from another replica through the
//! revocation feed, drops its entry, before the feed tells the replica's streams; the cache is used
//! only under a lease the database granted (the feed renews it after proving it has applied every
//! revocation committed so far), and a cache whose lease ran out is emptied before it is trusted
//! again; while the feed is down the cache is bypassed and emptied; and a read that started before
//! an invalidation may not insert its (possibly stale) result, which the epoch counter enforces.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::Instant,
};

use prometheus_client::metrics::{counter::Counter, histogram::Histogram};
use tessera_rules::token::TokenHash;
use tessera_store::{feed::FeedSink, revocations::Revocation};
use tessera_telemetry::metrics::latency_histogram;
use time::OffsetDateTime;
use tracing::debug;

use crate::service::view::TokenView;

/// Shared handle to the cache.
#[derive(Clone)]
pub struct DecisionCache {
    inner: Arc<CacheTable>,
}

struct CacheTable {
    entries: RwLock<HashMap<TokenHash, Arc<TokenView>>>,
    capacity: usize,
    enabled: bool,
    trusted: AtomicBool,
    /// The lease: nanoseconds after `base` until which the cache may be used.
    lease_until: AtomicU64,
    base: Instant,
    epoch: AtomicU64,
    stats: CacheStats,
}

/// Taken before a database read; the result may be cached only if no invalidation happened since.
#[derive(Debug, Clone, Copy)]
pub struct Epoch(u64);

impl DecisionCache {
    /// A cache of at most `capacity` entries; disabled caches never hold anything.
    pub fn new(enabled: bool, capacity: usize) -> DecisionCache {
        DecisionCache {
            inner: Arc::new(CacheTable {
                entries: RwLock::new(HashMap::new()),
                capacity,
                enabled,
                trusted: AtomicBool::new(false),
                lease_until: AtomicU64::new(0),
                base: Instant::now(),
                epoch: AtomicU64::new(0),
                stats: CacheStats::default(),
            }),
        }
    }

    /// The cached view for `hash`, if trusted and unexpired at `now`. An entry found expired is
    /// dropped: entries die at their token's expiry.
    pub fn get(&self, hash: &TokenHash, now: OffsetDateTime) -> Option<Arc<TokenView>> {
        if !self.inner.enabled || !self.is_trusted() {
            self.inner.stats.misses.inc();
            return None;
        }
        let expired = {
            let entries = self.inner.entries.read().unwrap_or_else(|p| p.into_inner());
            match entries.get(hash) {
                Some(view) if view.unexpired_at(now) => {
                    self.inner.stats.hits.inc();
                    return Some(Arc::clone(view));
                }
                Some(_) => true,
                None => false,
            }
        };
        if expired {
            let mut entries = self
                .inner
                .entries
                .write()
                .unwrap_or_else(|p| p.into_inner());
            if entries
                .get(hash)
                .is_some_and(|view| !view.unexpired_at(now))
            {
                entries.remove(hash);
            }
        }
        self.inner.stats.misses.inc();
        None
    }

    /// Hit, miss and revocation-lag counters (for metrics).
    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// Marks the start of a database read.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.inner.epoch.load(Ordering::Acquire))
    }

    /// Caches the result of a read begun at `epoch`, unless something was invalidated meanwhile,
    /// the token is limited-use, or the cache is full or untrusted.
    pub fn insert(&self, hash: TokenHash, view: &Arc<TokenView>, epoch: Epoch) {
        if !self.inner.enabled || view.uses_remaining.is_some() || !self.is_trusted() {
            return;
        }
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Checked under the write lock: invalidations and resets take it too, so none can slip in
        // between.
        if self.inner.epoch.load(Ordering::Acquire) != epoch.0 || self.inner.capacity == 0 {
            return;
        }
        if entries.len() >= self.inner.capacity && !entries.contains_key(&hash) {
            // Full: make room by dropping an arbitrary entry (the map's order is randomly seeded),
            // so a full cache keeps serving the tokens in use now rather than the first ones seen.
            if let Some(victim) = entries.keys().next().copied() {
                entries.remove(&victim);
            }
        }
        entries.insert(hash, Arc::clone(view));
    }

    /// Drops the entries of revoked tokens.
    pub fn invalidate<'a>(&self, hashes: impl IntoIterator<Item = &'a TokenHash>) {
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner());
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        for hash in hashes {
            entries.remove(hash);
        }
    }

    /// Empties the cache and sets whether it may be used.
    fn reset(&self, trusted: bool) {
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner());
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.inner.trusted.store(trusted, Ordering::Release);
    }

    /// Whether the cache may be used: the feed is followed and its lease has not run out.
    pub fn is_trusted(&self) -> bool {
        self.inner.trusted.load(Ordering::Acquire)
            && self.since_base(Instant::now()) < self.inner.lease_until.load(Ordering::Acquire)
    }

    fn since_base(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.inner.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Number of entries (for metrics and tests).
    pub fn len(&self) -> usize {
        self.inner
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FeedSink for DecisionCache {
    fn apply(&self, revocation: &Revocation) {
        self.invalidate([&revocation.token_hash]);
        let lag = OffsetDateTime::now_utc() - revocation.revoked_at;
        self.inner.stats.revocation_lag.observe(
            std::time::Duration::try_from(lag)
                .unwrap_or_default()
                .as_secs_f64(),
        );
    }

    fn renewed(&self, until: Instant) {
        if !self.is_trusted() {
            // The lease ran out (or was never held): revocations whose Revoke stopped waiting for
            // this replica may have been missed meanwhile, so nothing held from before is kept.
            debug!("decision cache lease granted; cache starts empty");
            self.reset(true);
        }
        self.inner
            .lease_until
            .store(self.since_base(until), Ordering::Release);
    }

    fn distrust(&self) {
        self.reset(false);
    }
}

/// The decision cache's counters, registered by `observability::registry` for `/metrics`.
#[derive(Debug, Clone)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: Counter,
    /// Lookups the cache could not answer (absent, expired, or cache untrusted).
    pub misses: Counter,
    /// Seconds from a revocation's commit (the revoking replica's clock) to this replica
    /// dropping it.
    pub revocation_lag: Histogram,
}

impl Default for CacheStats {
    fn default() -> Self {
        CacheStats {
            hits: Counter::default(),
            misses: Counter::default(),
            revocation_lag: latency_histogram(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tessera_rules::{namespace::Namespace, permission::PermissionSet, token::TokenKind};
    use time::Duration;
    use uuid::Uuid;

    use super::*;

    fn view(expires_at: Option<OffsetDateTime>) -> Arc<TokenView> {
        Arc::new(TokenView {
            id: Uuid::new_v4(),
            kind: TokenKind::Api,
            subject: None,
            username: None,
            role: None,
            session_id: None,
            namespace: Namespace::parse("*").unwrap(),
            permissions: PermissionSet::parse(["introspect"]).unwrap(),
            elevated: false,
            issued_at: OffsetDateTime::UNIX_EPOCH,
            expires_at,
            uses_remaining: None,
        })
    }

    fn trusted(capacity: usize) -> DecisionCache {
        let cache = DecisionCache::new(true, capacity);
        cache.renewed(Instant::now() + std::time::Duration::from_secs(3600));
        cache
    }

    #[test]
    fn entries_die_at_expiry() {
        let cache = trusted(10);
        let now = OffsetDateTime::now_utc();
        let hash = TokenHash::of("expiring");
        cache.insert(hash, &view(Some(now + Duration::seconds(5))), cache.epoch());
        assert!(cache.get(&hash, now).is_some());
        assert!(cache.get(&hash, now + Duration::seconds(5)).is_none());
        assert!(cache.is_empty(), "an expired entry is dropped when found");
        assert_eq!(cache.stats().hits.get(), 1);
        assert_eq!(cache.stats().misses.get(), 1);
    }

    #[test]
    fn limited_use_stale_and_untrusted_are_never_cached() {
        let cache = trusted(10);
        let now = OffsetDateTime::now_utc();
        let mut limited = view(None);
        Arc::make_mut(&mut limited).uses_remaining = Some(3);
        cache.insert(TokenHash::of("limited"), &limited, cache.epoch());
        let stale = cache.epoch();
        cache.invalidate([&TokenHash::of("other")]);
        cache.insert(TokenHash::of("stale"), &view(None), stale);
        assert!(cache.is_empty());
        cache.reset(false);
        cache.insert(TokenHash::of("untrusted"), &view(None), cache.epoch());
        assert!(cache.is_empty());
        assert!(cache.get(&TokenHash::of("untrusted"), now).is_none());
    }

    #[test]
    fn a_lapsed_lease_distrusts_and_a_renewal_after_it_starts_empty() {
        let cache = trusted(10);
        let now = OffsetDateTime::now_utc();
        let hash = TokenHash::of("held");
        cache.insert(hash, &view(None), cache.epoch());
        assert!(cache.get(&hash, now).is_some());
        // The lease runs out: nothing is served, and nothing new is taken in.
        cache.renewed(Instant::now());
        assert!(cache.get(&hash, now).is_none());
        cache.insert(TokenHash::of("during"), &view(None), cache.epoch());
        // Renewed after the lapse: what was held before is gone.
        let before = cache.epoch();
        cache.renewed(Instant::now() + std::time::Duration::from_secs(60));
        assert!(cache.get(&hash, now).is_none());
        assert!(cache.is_empty());
        cache.insert(TokenHash::of("stale read"), &view(None), before);
        assert!(
            cache.is_empty(),
            "a read begun before the renewal is not cached"
        );
        // A renewal inside the lease keeps what is held.
        cache.insert(hash, &view(None), cache.epoch());
        cache.renewed(Instant::now() + std::time::Duration::from_secs(60));
        assert!(cache.get(&hash, now).is_some());
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = trusted(3);
        let now = OffsetDateTime::now_utc();
        for i in 0..10 {
            cache.insert(TokenHash::of(&format!("t{i}")), &view(None), cache.epoch());
        }
        assert_eq!(cache.len(), 3);
        assert!(
            cache.get(&TokenHash::of("t9"), now).is_some(),
            "newest kept"
        );
    }
}
