//! Coalesced cache misses: while token reads are in flight to PostgreSQL, the misses that arrive
//! meanwhile wait and then go together, as one statement (`tokens::lookup_many`).
//!
//! A miss that finds no statement running goes at once, as the lone one-row statement: without
//! concurrency nothing is added, not even a task hop. Under concurrency each statement carries
//! every miss that arrived while the previous one ran, so the replica and PostgreSQL pay the
//! per-statement costs (protocol round trip, backend wake-up, executor start-up) once per batch
//! instead of once per call. One statement at a time is what makes the batches large: with two,
//! the misses split between them, and PostgreSQL's CPU per uncached Introspect was twice as high
//! (see BENCHMARKS.md). A statement runs on a kept connection (`tessera_store::kept`), so it is
//! one round trip, without the pool's check of each connection handed back.
//!
//! One statement can stall: a use-counting write waits for a row lock that a large revocation
//! holds for a second. Misses then need not wait behind it: once the running statement is
//! [`STALLED`] old, the next miss opens another one (up to [`MOST_IN_FLIGHT`]), which takes
//! every miss waiting. A database far away, whose every statement takes longer than that, gets
//! statements in parallel the same way.
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
    time::{Duration, Instant},
};

use tessera_rules::token::TokenHash;
use tessera_store::{
    kept::KeptConnections,
    tokens::{self as token_store, LookupKey, TokenRecord, MAX_BATCH},
    PgPool, SqlxError, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tracing::warn;

type Answer = Result<Option<TokenRecord>, StoreError>;

/// Statements in flight at once per replica, at most; beyond the first only after a stall.
pub const MOST_IN_FLIGHT: usize = 4;

/// How long every running statement must have run before a miss opens another one beside them.
pub const STALLED: Duration = Duration::from_millis(2);

/// The replica's single queue of token reads that missed the cache.
#[derive(Clone)]
pub struct MissBatcher {
    inner: Arc<MissQueue>,
}

struct MissQueue {
    /// The connections of the statements, kept between them.
    connections: KeptConnections,
    state: Mutex<State>,
    stats: MissStats,
}

#[derive(Default)]
struct State {
    /// When each running statement (lone read or batch) started; while any runs, new misses
    /// queue in `waiting`.
    running: Vec<Instant>,
    waiting: Vec<Waiter>,
}

impl State {
    /// A statement starting now; its start, to end it with.
    fn start(&mut self) -> Instant {
        let at = Instant::now();
        self.running.push(at);
        at
    }

    /// The statement started at `at` ended.
    fn end(&mut self, at: Instant) {
        if let Some(i) = self.running.iter().position(|&s| s == at) {
            self.running.swap_remove(i);
        }
    }

    /// Whether every running statement has run for [`STALLED`] or longer, and another may open.
    fn stalled(&self) -> bool {
        self.running.len() < MOST_IN_FLIGHT && self.running.iter().all(|at| at.elapsed() >= STALLED)
    }

    /// The waiting misses for the next statement (at most [`MAX_BATCH`]), with its start.
    fn next_batch(&mut self) -> (Vec<Waiter>, Instant) {
        let take = self.waiting.len().min(MAX_BATCH);
        let batch = if take == self.waiting.len() {
            mem::take(&mut self.waiting)
        } else {
            self.waiting.drain(..take).collect()
        };
        (batch, self.start())
    }
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
                connections: KeptConnections::new(pool, MOST_IN_FLIGHT),
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
        let turn = {
            let mut state = self.inner.lock();
            if state.running.is_empty() {
                Turn::Alone(state.start())
            } else {
                let (reply, answer) = oneshot::channel();
                state.waiting.push(Waiter { key, reply });
                // Every statement running is stalled: this miss and those before it go in
                // another one rather than wait for them.
                let another = state.stalled().then(|| state.next_batch());
                Turn::Queued(answer, another)
            }
        };
        let started = match turn {
            Turn::Alone(started) => started,
            Turn::Queued(answer, another) => {
                if let Some((batch, started)) = another {
                    tokio::spawn(Arc::clone(&self.inner).drive(batch, started));
                }
                // The batch runs in its own task, so it completes even if this caller goes
                // away; a lost reply (the task panicked) fails the call closed.
                return answer
                    .await
                    .unwrap_or(Err(StoreError::Unavailable(SqlxError::WorkerCrashed)));
            }
        };
        // Whatever happens to this call (even cancellation mid-read), the guard passes the
        // queue on to a batch task.
        let _hand_off = HandOff {
            inner: Arc::clone(&self.inner),
            started,
        };
        self.inner.stats.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.stats.statements.fetch_add(1, Ordering::Relaxed);
        self.inner
            .read(std::slice::from_ref(&key))
            .await
            .map(|mut answers| answers.pop().flatten())
    }
}

impl MissQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `batch` (its statement started at `started`), then batches of whoever waits
    /// meanwhile, until nobody waits.
    async fn drive(self: Arc<Self>, mut batch: Vec<Waiter>, started: Instant) {
        let mut current = Current {
            inner: &self,
            started: Some(started),
        };
        loop {
            let deferred = self.run(batch).await;
            let mut state = self.lock();
            if !deferred.is_empty() {
                // Callers whose token was consumed for another caller in this statement go
                // first in the next one.
                let later = mem::take(&mut state.waiting);
                state.waiting = deferred;
                state.waiting.extend(later);
            }
            if let Some(ended) = current.started.take() {
                state.end(ended);
            }
            if state.waiting.is_empty() {
                return;
            }
            let (next, started) = state.next_batch();
            current.started = Some(started);
            batch = next;
        }
    }

    /// Reads `keys` (one answer each, in order) in one statement, on a kept connection: one
    /// that served the previous statement when it is fit (see `tessera_store::kept`), so a
    /// statement costs one round trip to PostgreSQL, not a second one for the pool's check of
    /// each connection handed back. A connection whose statement failed, or was cancelled with
    /// its caller, goes back to the pool instead, which checks it.
    async fn read(&self, keys: &[LookupKey]) -> Result<Vec<Option<TokenRecord>>, StoreError> {
        let mut checkout = self.connections.take().await?;
        let answers = if let [key] = keys {
            token_store::lookup(checkout.conn(), &key.hash, key.now, key.consume)
                .await
                .map(|record| vec![record])
        } else {
            token_store::lookup_many(checkout.conn(), keys).await
        };
        if answers.is_ok() {
            self.connections.put_back(checkout);
        }
        answers
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
        let answers = match self.read(&keys).await {
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

/// How a miss goes: alone, as its own statement (started then), or queued for a batch (with the
/// batch of another statement to open, when every running one is stalled).
enum Turn {
    Alone(Instant),
    Queued(oneshot::Receiver<Answer>, Option<(Vec<Waiter>, Instant)>),
}

/// Passes the queue on when a lone read ends, however it ends.
struct HandOff {
    inner: Arc<MissQueue>,
    started: Instant,
}

impl Drop for HandOff {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.end(self.started);
        if state.waiting.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (batch, started) = state.next_batch();
                drop(state);
                runtime.spawn(Arc::clone(&self.inner).drive(batch, started));
            }
            // No runtime (being shut down): the waiters' replies drop, and they fail closed.
            Err(_) => state.waiting.clear(),
        }
    }
}

/// The statement a batch task runs. Should the task end early (a panic, the runtime shutting
/// down), its statement must not count as running forever: it ends, and the waiting callers'
/// replies are dropped, so they fail closed.
struct Current<'a> {
    inner: &'a MissQueue,
    started: Option<Instant>,
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        if let Some(started) = self.started {
            let mut state = self.inner.lock();
            state.end(started);
            state.waiting.clear();
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
