//! The replica's decision cache: token hash → the facts of an active, unlimited-use token, so a
//! repeated Introspect costs no database read.
//!
//! Safety rules: limited-use tokens are never cached (each use is counted in PostgreSQL); entries
//! die at the token's expiry; every revocation, local or from another replica through the
//! revocation feed, drops its entry; while the feed is down the cache is bypassed and emptied; and a
//! read that started before an invalidation may not insert its (possibly stale) result, which the
//! epoch counter enforces.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
};

use tessera_core::token::TokenHash;
use tessera_store::feed::{FeedState, RevocationFeed};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

use crate::service::view::TokenView;

/// Shared handle to the cache.
#[derive(Clone)]
pub struct DecisionCache {
    inner: Arc<Inner>,
}

struct Inner {
    entries: RwLock<HashMap<TokenHash, Arc<TokenView>>>,
    capacity: usize,
    enabled: bool,
    trusted: AtomicBool,
    epoch: AtomicU64,
}

/// Taken before a database read; the result may be cached only if no invalidation happened since.
#[derive(Debug, Clone, Copy)]
pub struct Epoch(u64);

impl DecisionCache {
    /// A cache of at most `capacity` entries; disabled caches never hold anything.
    pub fn new(enabled: bool, capacity: usize) -> DecisionCache {
        DecisionCache {
            inner: Arc::new(Inner {
                entries: RwLock::new(HashMap::new()),
                capacity,
                enabled,
                trusted: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
            }),
        }
    }

    /// The cached view for `hash`, if trusted and unexpired at `now`.
    pub fn get(&self, hash: &TokenHash, now: OffsetDateTime) -> Option<Arc<TokenView>> {
        if !self.inner.enabled || !self.inner.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.inner.entries.read().unwrap_or_else(|p| p.into_inner());
        let view = entries.get(hash)?;
        view.unexpired_at(now).then(|| Arc::clone(view))
    }

    /// Marks the start of a database read.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.inner.epoch.load(Ordering::Acquire))
    }

    /// Caches the result of a read begun at `epoch`, unless something was invalidated meanwhile,
    /// the token is limited-use, or the cache is full or untrusted.
    pub fn insert(&self, hash: TokenHash, view: &TokenView, epoch: Epoch) {
        if !self.inner.enabled
            || view.uses_remaining.is_some()
            || !self.inner.trusted.load(Ordering::Acquire)
        {
            return;
        }
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Checked under the write lock: invalidations take it too, so none can slip in between.
        if self.inner.epoch.load(Ordering::Acquire) != epoch.0
            || entries.len() >= self.inner.capacity
        {
            return;
        }
        entries.insert(hash, Arc::new(view.clone()));
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

    /// Whether the cache may be used (the revocation feed is live).
    pub fn is_trusted(&self) -> bool {
        self.inner.trusted.load(Ordering::Acquire)
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

    /// Follows the revocation feed for as long as the runtime runs: drops revoked entries as they
    /// arrive, and distrusts (empties) the cache whenever the feed is down or this follower lagged.
    pub fn follow(&self, feed: &RevocationFeed) {
        let cache = self.clone();
        let mut events = feed.subscribe();
        let mut state = feed.state();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = state.changed() => {
                        if changed.is_err() { return; }
                        let live = matches!(*state.borrow_and_update(), FeedState::Live { .. });
                        if live != cache.inner.trusted.load(Ordering::Acquire) {
                            debug!(live, "decision cache trust changed");
                            cache.reset(live);
                        }
                    }
                    event = events.recv() => match event {
                        Ok(revocation) => cache.invalidate([&revocation.token_hash]),
                        Err(RecvError::Lagged(missed)) => {
                            warn!(missed, "decision cache lagged behind the revocation feed; emptied");
                            let live = cache.inner.trusted.load(Ordering::Acquire);
                            cache.reset(live);
                        }
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        });
    }
}
