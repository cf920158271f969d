//! The live revocation feed of one replica: a task that `LISTEN`s for revocations committed by any
//! replica, reads them from the feed table in sequence order, applies each to the replica's cache
//! (the [`FeedSink`]) and only then broadcasts it to the replica's WatchRevocations streams.
//!
//! **The cache is trusted only under a lease that the database granted.** After every catch-up
//! the task acknowledges its position and renews its lease (`leases::renew`): PostgreSQL grants it
//! only when nothing newer than the position is committed, and records it so that a Revoke on any
//! replica waits for this one's acknowledgement or for the lease to run out. Heartbeats renew the
//! lease even when nothing happens; an open connection proves nothing by itself.
//!
//! Every database step has a deadline. A step that fails or overruns takes the feed down: the
//! cache is emptied and distrusted, the streams end (their watchers move to another replica), and
//! the feed reconnects. A position the database no longer holds (the feed moved backwards under a
//! restore, point-in-time recovery or failover) or whose successors were pruned empties the cache
//! too; the feed then starts again from the head, and the streams end with RESYNC_REQUIRED (the
//! state's `generation` changes).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

use crate::{
    leases::{self, Follower, Renewal, ACK_CHANNEL},
    revocations::{self, Anchored, FeedPosition, Revocation},
    StoreError,
};

/// The `NOTIFY` channel revocations are announced on; the payload is the newest sequence number.
pub const CHANNEL: &str = "tessera_revocations";

const CATCH_UP_BATCH: i64 = 1000;

/// How the feed keeps its lease.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// How long a renewal lets the cache be trusted, and so the longest a Revoke waits for a
    /// follower that stopped answering.
    pub lease: Duration,
    /// How often the lease is renewed when nothing happens.
    pub heartbeat: Duration,
    /// The deadline of every database step of the feed.
    pub step_timeout: Duration,
    /// Who this follower is, in the followers table.
    pub follower: Follower,
}

/// What the feed does to the replica's cache, in feed order, before the streams hear of it.
pub trait FeedSink: Send + Sync + 'static {
    /// A revocation: drop what the cache holds for it.
    fn apply(&self, revocation: &Revocation);
    /// The database granted a lease: the cache may be used until `until`.
    fn renewed(&self, until: Instant);
    /// The feed is down, moved or lost its place: empty the cache and stop trusting it.
    fn distrust(&self);
}

/// Whether the feed currently sees every revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// Not following: revocations may be missed.
    Down,
    /// Following, caught up to `last_sequence`.
    Live {
        /// Newest sequence delivered.
        last_sequence: i64,
        /// Changes whenever the feed started again from the head (a moved or pruned position):
        /// streams opened in an earlier generation must end with RESYNC_REQUIRED.
        generation: u64,
    },
}

/// Handle to the feed: subscribe to revocations and watch whether the feed is live.
#[derive(Clone)]
pub struct RevocationFeed {
    events: broadcast::Sender<Revocation>,
    state: watch::Receiver<FeedState>,
    acks: watch::Receiver<u64>,
    follower: Follower,
    lease: Duration,
}

struct Task {
    pool: PgPool,
    settings: FeedSettings,
    sink: Arc<dyn FeedSink>,
    events: broadcast::Sender<Revocation>,
    state: watch::Sender<FeedState>,
    acks: watch::Sender<u64>,
    position: Option<FeedPosition>,
    generation: u64,
    /// When the last lease renewal was sent.
    renewed_at: Option<Instant>,
}

impl RevocationFeed {
    /// Starts the following task on `pool`'s database (direct sessions: it LISTENs). It runs
    /// until the runtime shuts down.
    pub fn start(pool: PgPool, settings: FeedSettings, sink: Arc<dyn FeedSink>) -> RevocationFeed {
        let (events, _) = broadcast::channel(4096);
        let (state_tx, state) = watch::channel(FeedState::Down);
        let (acks_tx, acks) = watch::channel(0);
        let feed = RevocationFeed {
            events: events.clone(),
            state,
            acks,
            follower: settings.follower.clone(),
            lease: settings.lease,
        };
        let task = Task {
            pool,
            settings,
            sink,
            events,
            state: state_tx,
            acks: acks_tx,
            position: None,
            generation: 0,
            renewed_at: None,
        };
        tokio::spawn(task.run());
        feed
    }

    /// Revocations from now on, in sequence order, each already applied to the replica's cache.
    /// A lagging receiver gets `Lagged` and must read what it missed from the table.
    pub fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.events.subscribe()
    }

    /// The feed's state, to watch for changes.
    pub fn state(&self) -> watch::Receiver<FeedState> {
        self.state.clone()
    }

    /// Whether the feed is live right now.
    pub fn is_live(&self) -> bool {
        matches!(*self.state.borrow(), FeedState::Live { .. })
    }

    /// Changes whenever some follower acknowledged something (a Revoke waiting for
    /// acknowledgements looks again).
    pub fn acks(&self) -> watch::Receiver<u64> {
        self.acks.clone()
    }

    /// This replica as a follower.
    pub fn follower(&self) -> &Follower {
        &self.follower
    }

    /// The lease this replica's followers are granted.
    pub fn lease(&self) -> Duration {
        self.lease
    }
}

impl Task {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let err = match self.follow().await {
                Ok(()) => return,
                Err(err) => err,
            };
            self.sink.distrust();
            if matches!(*self.state.borrow(), FeedState::Live { .. }) {
                warn!(error = %err, "revocation feed lost the database; cache emptied and distrusted, streams ended, until it is back");
                backoff = Duration::from_millis(100);
            } else {
                debug!(error = %err, "revocation feed still down");
            }
            self.state.send_replace(FeedState::Down);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
            if self.state.is_closed() && self.events.receiver_count() == 0 {
                return;
            }
        }
    }

    /// Runs `step` under the feed's deadline.
    async fn step<T, E: Into<StoreError>>(
        &self,
        what: &'static str,
        step: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.settings.step_timeout, step).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(StoreError::Unavailable(sqlx::Error::Protocol(format!(
                "the revocation feed's {what} took longer than {:?}",
                self.settings.step_timeout
            )))),
        }
    }

    /// One listening session: connect, catch up, renew, then follow notifications and heartbeats
    /// until a step fails (an error) or nobody is left to tell (Ok).
    async fn follow(&mut self) -> Result<(), StoreError> {
        let mut listener = self
            .step("connection", PgListener::connect_with(&self.pool))
            .await?;
        self.step("LISTEN", listener.listen_all([CHANNEL, ACK_CHANNEL]))
            .await?;
        if self.position.is_none() {
            // First start: the cache is empty, so history needs no replay.
            let head = self.step("head", revocations::head(&self.pool)).await?;
            self.position = Some(head);
        }
        let mut announced = false;
        loop {
            if self.state.is_closed() {
                return Ok(());
            }
            self.sync().await?;
            if !announced {
                info!(
                    last_sequence = self.position.unwrap_or_default().sequence,
                    "revocation feed live"
                );
                announced = true;
            }
            self.wait(&mut listener).await?;
        }
    }

    /// Reads and applies what is new, then renews the lease (until the database grants it) or,
    /// when it was renewed less than a heartbeat ago, only acknowledges: the Revokes waiting for
    /// this replica hear of it at once, without queueing for the feed lock they hold.
    async fn sync(&mut self) -> Result<(), StoreError> {
        loop {
            let before = self.position;
            self.catch_up().await?;
            let position = self.position.unwrap_or_default();
            let fresh = self
                .renewed_at
                .is_some_and(|at| at.elapsed() < self.settings.heartbeat)
                && matches!(*self.state.borrow(), FeedState::Live { .. });
            if fresh {
                if before != self.position {
                    self.step(
                        "acknowledgement",
                        leases::acknowledge(&self.pool, &self.settings.follower, &position),
                    )
                    .await?;
                }
                return Ok(());
            }
            let started = Instant::now();
            let renewal = self
                .step(
                    "lease renewal",
                    leases::renew(
                        &self.pool,
                        &self.settings.follower,
                        &position,
                        self.settings.lease,
                    ),
                )
                .await?;
            match renewal {
                Renewal::Current { .. } => {
                    self.renewed_at = Some(started);
                    self.sink.renewed(started + self.settings.lease);
                    let live = FeedState::Live {
                        last_sequence: position.sequence,
                        generation: self.generation,
                    };
                    // Streams wake on a change only, not on every heartbeat.
                    self.state.send_if_modified(|state| {
                        let changed = *state != live;
                        *state = live;
                        changed
                    });
                    return Ok(());
                }
                // Committed after the catch-up read: read again.
                Renewal::Behind { .. } => continue,
                Renewal::Moved | Renewal::Pruned => self.restart_from_head(renewal).await?,
                Renewal::Acknowledged => {
                    return Err(StoreError::Corrupt(
                        "a lease renewal came back as a bare acknowledgement".into(),
                    ))
                }
            }
        }
    }

    /// Everything after the position, in batches, each applied to the cache before it is
    /// broadcast.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        loop {
            let position = self.position.unwrap_or_default();
            let read = self
                .step(
                    "catch-up read",
                    revocations::after_position(&self.pool, &position, CATCH_UP_BATCH),
                )
                .await?;
            let batch = match read {
                Anchored::Rows(rows) => rows,
                Anchored::Moved => {
                    self.restart_from_head(Renewal::Moved).await?;
                    continue;
                }
                Anchored::Pruned { .. } => {
                    self.restart_from_head(Renewal::Pruned).await?;
                    continue;
                }
            };
            let full = batch.len() as i64 == CATCH_UP_BATCH;
            for revocation in batch {
                self.sink.apply(&revocation);
                self.position = Some(revocation.position());
                // No receivers is fine: nobody streams yet.
                let _ = self.events.send(revocation);
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// The feed no longer holds this replica's position: whatever the cache learnt from it is
    /// unknown. Empty it, end the streams (a new generation) and follow from the head.
    async fn restart_from_head(&mut self, why: Renewal) -> Result<(), StoreError> {
        self.sink.distrust();
        let head = self.step("head", revocations::head(&self.pool)).await?;
        warn!(
            ?why,
            was = self.position.unwrap_or_default().sequence,
            head = head.sequence,
            "the revocation feed moved backwards or lost this replica's place (restore, failover, pruning); cache emptied, following again from the head"
        );
        self.position = Some(head);
        self.generation += 1;
        self.state.send_replace(FeedState::Down);
        Ok(())
    }

    /// Until a revocation is announced or the next heartbeat is due; acknowledgements only wake
    /// the Revokes waiting for them.
    async fn wait(&self, listener: &mut PgListener) -> Result<(), StoreError> {
        let beat = Instant::now() + self.settings.heartbeat;
        loop {
            let left = beat.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, listener.try_recv()).await {
                Err(_elapsed) => return Ok(()),
                Ok(Ok(Some(notification))) => {
                    if notification.channel() == ACK_CHANNEL {
                        self.acks.send_modify(|n| *n = n.wrapping_add(1));
                        continue;
                    }
                    return Ok(());
                }
                Ok(Ok(None)) => {
                    return Err(StoreError::Unavailable(sqlx::Error::Protocol(
                        "listening connection closed".into(),
                    )))
                }
                Ok(Err(err)) => return Err(err.into()),
            }
        }
    }
}
