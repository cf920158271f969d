//! The live revocation feed of one replica: a task that `LISTEN`s for revocations committed by any
//! replica, reads them from the feed table in sequence order and broadcasts them in-process.
//!
//! While the listening connection is down the feed is not live: consumers that cache decisions must
//! stop trusting their cache until it is live again, because revocations may have been missed. On
//! reconnect the feed replays everything after the last sequence it saw before going live.
//!
//! The feed table is pruned after a retention. If this replica was disconnected for longer than
//! that, what it missed is gone: it resumes from the oldest retained entry, and subscribers see
//! the jump in sequence numbers (the decision cache was emptied when the feed went down anyway;
//! WatchRevocations streams read the table and answer RESYNC_REQUIRED).

use std::time::Duration;

use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

use crate::{
    revocations::{self, Retained, Revocation},
    StoreError,
};

/// The `NOTIFY` channel revocations are announced on; the payload is the newest sequence number.
pub const CHANNEL: &str = "tessera_revocations";

/// How often the feed polls the table even without a notification, as a safety net.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const CATCH_UP_BATCH: i64 = 1000;

/// Whether the feed currently sees every revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// Not listening: revocations may be missed.
    Down,
    /// Listening and caught up to `last_sequence`.
    Live {
        /// Newest sequence delivered.
        last_sequence: i64,
    },
}

/// Handle to the feed: subscribe to revocations and watch whether the feed is live.
#[derive(Clone)]
pub struct RevocationFeed {
    events: broadcast::Sender<Revocation>,
    state: watch::Receiver<FeedState>,
}

impl RevocationFeed {
    /// Starts the listening task on `pool`'s database. It runs until the runtime shuts down.
    pub fn start(pool: PgPool) -> RevocationFeed {
        let (events, _) = broadcast::channel(4096);
        let (state_tx, state) = watch::channel(FeedState::Down);
        tokio::spawn(run(pool, events.clone(), state_tx));
        RevocationFeed { events, state }
    }

    /// Revocations from now on, in sequence order. A lagging receiver gets `Lagged` and must treat
    /// its cache as stale.
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
}

async fn run(pool: PgPool, events: broadcast::Sender<Revocation>, state: watch::Sender<FeedState>) {
    let mut last_sequence: Option<i64> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_once(&pool, &events, &state, &mut last_sequence).await {
            Ok(()) => return,
            Err(err) => {
                if matches!(*state.borrow(), FeedState::Live { .. }) {
                    warn!(error = %err, "revocation feed lost its connection; caches distrusted until it returns");
                    // A feed that was live starts over from the shortest wait: the backoff only
                    // grows while reconnecting keeps failing.
                    backoff = Duration::from_millis(100);
                } else {
                    debug!(error = %err, "revocation feed still down");
                }
                state.send_replace(FeedState::Down);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        if state.is_closed() && events.receiver_count() == 0 {
            return;
        }
    }
}

/// One listening session: connect, catch up, go live, then follow notifications until the
/// connection fails (an error) or nobody is left to tell (Ok).
async fn listen_once(
    pool: &PgPool,
    events: &broadcast::Sender<Revocation>,
    state: &watch::Sender<FeedState>,
    last_sequence: &mut Option<i64>,
) -> Result<(), StoreError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    let mut last = match *last_sequence {
        Some(seen) => seen,
        // First start: caches are empty, so history needs no replay.
        None => revocations::latest_sequence(pool).await?,
    };
    // Only a resume after a disconnection can reach back into pruned history.
    catch_up(pool, events, &mut last, true).await?;
    *last_sequence = Some(last);
    state.send_replace(FeedState::Live {
        last_sequence: last,
    });
    info!(last_sequence = last, "revocation feed live");

    loop {
        if state.is_closed() {
            return Ok(());
        }
        match tokio::time::timeout(POLL_INTERVAL, listener.try_recv()).await {
            Ok(Ok(Some(_notification))) => {}
            Ok(Ok(None)) => {
                return Err(StoreError::Unavailable(sqlx::Error::Protocol(
                    "listening connection closed".into(),
                )))
            }
            Ok(Err(err)) => return Err(err.into()),
            Err(_elapsed) => {}
        }
        catch_up(pool, events, &mut last, false).await?;
        *last_sequence = Some(last);
        state.send_replace(FeedState::Live {
            last_sequence: last,
        });
    }
}

async fn catch_up(
    pool: &PgPool,
    events: &broadcast::Sender<Revocation>,
    last: &mut i64,
    resuming: bool,
) -> Result<(), StoreError> {
    if resuming {
        if let Retained::Pruned { oldest_sequence } =
            revocations::since_retained(pool, *last, 1).await?
        {
            warn!(
                last_seen = *last,
                oldest_sequence,
                "revocations this replica missed were pruned; resuming from the oldest retained"
            );
            *last = oldest_sequence - 1;
        }
    }
    follow(pool, events, last).await
}

/// Everything after `last`, in batches.
async fn follow(
    pool: &PgPool,
    events: &broadcast::Sender<Revocation>,
    last: &mut i64,
) -> Result<(), StoreError> {
    loop {
        let batch = revocations::since(pool, *last, CATCH_UP_BATCH).await?;
        let full = batch.len() as i64 == CATCH_UP_BATCH;
        for revocation in batch {
            *last = revocation.sequence;
            // No receivers is fine: nobody caches yet.
            let _ = events.send(revocation);
        }
        if !full {
            return Ok(());
        }
    }
}
