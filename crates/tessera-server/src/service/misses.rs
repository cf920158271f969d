//! Coalesced cache misses: while token reads are in flight to PostgreSQL, the misses that arrive
//! meanwhile wait and then go together, as one statement (`tokens::lookup_many`).
//!
//! A miss that finds a free slot (fewer than [`IN_FLIGHT`] statements running) goes at once, as
//! the lone one-row statement: without concurrency nothing is added, not even a task hop. Under
//! concurrency each statement carries every miss that arrived while the others ran, so the replica
//! and PostgreSQL pay the per-statement costs (pool checkout, protocol round trip, backend
//! wake-up) once per batch instead of once per call. Two slots let PostgreSQL execute one
//! statement while the replica answers the previous one's callers.
//!
//! A read is a plain indexed `SELECT`; only keys that spend a use of a live limited-use token add
//! a second, use-counting statement (see `tokens::lookup_many`), so an unlimited token never costs
//! a write.
//!
//! Uses stay exact: a statement decrements a row at most once, so two waiting callers who both
//! consume the same token are never answered from one decrement. The first goes in the batch; the
//! others take its answer only when it consumed nothing (an unlimited token, or one found
//! inactive — the same answer a read of their own would give), else they wait for the next
//! statement, which counts a use of their own.

use std::{
    collections::HashMap,
    mem,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tessera_rules::token::TokenHash;
use tessera_store::{
    tokens::{self as token_store, LookupKey, TokenRecord, MAX_BATCH},
    PgPool, SqlxError, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tracing::warn;

type Answer = Result<Option<TokenRecord>, StoreError>;

/// Statements in flight at once per replica; further misses queue for the next free one.
pub const IN_FLIGHT: usize = 2;

/// The replica's single queue of token reads that missed the cache.
#[derive(Clone)]
pub struct MissBatcher {
    inner: Arc<MissQueue>,
}

struct MissQueue {
    pool: PgPool,
    state: Mutex<State>,
    stats: MissStats,
}

#[derive(Default)]
struct State {
    /// Statements running (lone reads and batch tasks); at [`IN_FLIGHT`], new misses queue in
    /// `waiting`.
    in_flight: usize,
    waiting: Vec<Waiter>,
}

struct Waiter {
    key: LookupKey,
    reply: oneshot::Sender<Answer>,
}

/// How many token reads went to PostgreSQL and in how many statements.
#[derive(Debug, Default)]
pub struct MissStats {
    reads: AtomicU64,
    statements: AtomicU64,
}

impl MissStats {
    /// Cache misses answered from PostgreSQL (a caller that shared another's answer counts too).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Statements those reads took; fewer than `reads` when misses were coalesced.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}

impl MissBatcher {
    /// A queue reading through `pool`.
    pub fn new(pool: PgPool) -> MissBatcher {
        MissBatcher {
            inner: Arc::new(MissQueue {
                pool,
                state: Mutex::new(State::default()),
                stats: MissStats::default(),
            }),
        }
    }

    /// Read and statement counters.
    pub fn stats(&self) -> &MissStats {
        &self.inner.stats
    }

    /// Reads one token, alone when nothing else is in flight, else in the next batch. Same
    /// answer and same use accounting as `tokens::lookup`.
    pub async fn lookup(&self, hash: TokenHash, now: OffsetDateTime, consume: bool) -> Answer {
        let key = LookupKey { hash, now, consume };
        let queued = {
            let mut state = self.inner.lock();
            if state.in_flight >= IN_FLIGHT {
                let (reply, answer) = oneshot::channel();
                state.waiting.push(Waiter { key, reply });
                Some(answer)
            } else {
                state.in_flight += 1;
                None
            }
        };
        if let Some(answer) = queued {
            // The batch runs in its own task, so it completes even if this caller goes away;
            // a lost reply (the task panicked) fails the call closed.
            return answer
                .await
                .unwrap_or(Err(StoreError::Unavailable(SqlxError::WorkerCrashed)));
        }
        // Whatever happens to this call (even cancellation mid-read), the guard passes the
        // queue on to a batch task.
        let _hand_off = HandOff(Arc::clone(&self.inner));
        self.inner.stats.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.stats.statements.fetch_add(1, Ordering::Relaxed);
        token_store::lookup(&self.inner.pool, &key.hash, key.now, key.consume).await
    }
}

impl MissQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends a statement: with nobody waiting its slot is freed, else the waiting misses are
    /// taken for the next statement in the same slot.
    fn next_batch(&self) -> Vec<Waiter> {
        let mut state = self.lock();
        if state.waiting.is_empty() {
            state.in_flight -= 1;
            return Vec::new();
        }
        let take = state.waiting.len().min(MAX_BATCH);
        if take == state.waiting.len() {
            mem::take(&mut state.waiting)
        } else {
            state.waiting.drain(..take).collect()
        }
    }

    /// Runs batches until nobody waits.
    async fn drive(self: Arc<Self>) {
        let mut idle = Idle {
            inner: &self,
            reached: false,
        };
        loop {
            let batch = self.next_batch();
            if batch.is_empty() {
                idle.reached = true;
                return;
            }
            let deferred = self.run(batch).await;
            if !deferred.is_empty() {
                // Callers whose token was consumed for another caller in this statement go
                // first in the next one.
                let mut state = self.lock();
                let later = mem::take(&mut state.waiting);
                state.waiting = deferred;
                state.waiting.extend(later);
            }
        }
    }

    /// One statement for `batch`; answers everyone it can and returns the callers that must
    /// wait for the next statement.
    async fn run(&self, batch: Vec<Waiter>) -> Vec<Waiter> {
        // One key per (hash, consume); the other callers with the same key follow its answer.
        let mut keys: Vec<LookupKey> = Vec::with_capacity(batch.len());
        let mut groups: Vec<Vec<Waiter>> = Vec::with_capacity(batch.len());
        let mut index: HashMap<(TokenHash, bool), usize> = HashMap::with_capacity(batch.len());
        // A caller that went away (its RPC was cancelled) gets no read, so spends no use.
        for waiter in batch.into_iter().filter(|w| !w.reply.is_closed()) {
            let slot = *index
                .entry((waiter.key.hash, waiter.key.consume))
                .or_insert_with(|| {
                    keys.push(waiter.key);
                    groups.push(Vec::new());
                    keys.len() - 1
                });
            groups[slot].push(waiter);
        }
        if keys.is_empty() {
            return Vec::new();
        }
        self.stats.statements.fetch_add(1, Ordering::Relaxed);
        let answers = if let [key] = keys.as_slice() {
            token_store::lookup(&self.pool, &key.hash, key.now, key.consume)
                .await
                .map(|record| vec![record])
        } else {
            token_store::lookup_many(&self.pool, &keys).await
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(err) => {
                warn!(error = %err, keys = keys.len(), "batched token read failed");
                for waiter in groups.into_iter().flatten() {
                    self.stats.reads.fetch_add(1, Ordering::Relaxed);
                    let _ = waiter.reply.send(Err(shared(&err)));
                }
                return Vec::new();
            }
        };
        let mut deferred = Vec::new();
        let mut answered = 0;
        for (record, group) in answers.into_iter().zip(groups) {
            let mut group = group.into_iter();
            let Some(first) = group.next() else { continue };
            // Followers of a consuming key may share the answer only if it spent no use.
            let shareable = !record.as_ref().is_some_and(|r| r.consumed);
            if shareable {
                for follower in group {
                    answered += 1;
                    let _ = follower.reply.send(Ok(record.clone()));
                }
            } else {
                deferred.extend(group);
            }
            answered += 1;
            let _ = first.reply.send(Ok(record));
        }
        self.stats.reads.fetch_add(answered, Ordering::Relaxed);
        deferred
    }
}

/// Passes the queue on when a lone read ends, however it ends.
struct HandOff(Arc<MissQueue>);

impl Drop for HandOff {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        if state.waiting.is_empty() {
            state.in_flight -= 1;
            return;
        }
        drop(state);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(Arc::clone(&self.0).drive());
            }
            // No runtime (being shut down): the waiters' replies drop, and they fail closed.
            Err(_) => {
                let mut state = self.0.lock();
                state.waiting.clear();
                state.in_flight -= 1;
            }
        }
    }
}

/// Should a batch task end early (a panic, the runtime shutting down), its slot must not stay
/// taken forever: the waiting callers' replies are dropped, so they fail closed, and the slot is
/// freed.
struct Idle<'a> {
    inner: &'a MissQueue,
    reached: bool,
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        if !self.reached {
            let mut state = self.inner.lock();
            state.waiting.clear();
            state.in_flight -= 1;
        }
    }
}

/// A batch's failure, once per caller (a database error cannot be cloned). Kept in its class so
/// every caller fails as a lone read would: closed on an outage.
fn shared(err: &StoreError) -> StoreError {
    let text = format!("batched token read: {err}");
    match err {
        StoreError::Unavailable(_) => StoreError::Unavailable(SqlxError::Protocol(text)),
        _ => StoreError::Corrupt(text),
    }
}
