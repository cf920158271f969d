//! WatchRevocations: replay from the feed table after the subscriber's sequence, then follow the
//! live feed, in order and without gaps or repeats.
//!
//! The feed names every account's revocations, so it is for edges and replicas only: the caller
//! must hold `introspect` on a service, static or master token, and a service token must belong to
//! an account whose role has admin rights (a plain `user` account gets no feed, whatever it
//! derives).
//!
//! The feed table is pruned after the server's `--revocation-retention`. A resume point older than
//! what is retained (`after_sequence` below the oldest retained sequence − 1) would skip
//! revocations silently, so the stream ends at once with FAILED_PRECONDITION / RESYNC_REQUIRED
//! (ErrorInfo metadata `oldest_sequence`): the watcher drops every cached verdict and watches
//! again from 0. The same answer ends a stream that falls behind into pruned history later.
//!
//! The stream ends, with AUTH_FAILED, as soon as the caller's own token is revoked
//! (which covers its ancestors, its account's disable, password reset or role change: each
//! revokes it through this very feed) or expires. Each caller holds a bounded number of streams.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tracing::Instrument as _;

use futures::Stream;
use tessera_rules::{permission::INTROSPECT, token::TokenKind};
use tessera_store::{
    feed::FeedState,
    revocations::{self, Anchored, FeedPosition, Retained, Revocation},
};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::{view::TokenView, Authority};
use crate::error::ApiError;

const REPLAY_BATCH: i64 = 500;

/// Up to a batch of revocations after `last`, checked against the feed: RESYNC_REQUIRED when some
/// were pruned or the feed no longer holds `last` (it moved backwards).
async fn read_after(
    pool: &tessera_store::PgPool,
    last: &FeedPosition,
) -> Result<Vec<Revocation>, ApiError> {
    let span = || crate::service::store_span("SELECT", "revocations::after_position");
    if last.sequence > 0 && last.anchor.is_none() {
        // A resume point without an anchor (an older client): nothing to check it against but the
        // newest sequence, which it must not pass.
        let rows = match revocations::since_retained(pool, last.sequence, REPLAY_BATCH)
            .instrument(span())
            .await?
        {
            Retained::Rows(rows) => rows,
            Retained::Pruned { oldest_sequence } => {
                return Err(ApiError::ResyncRequired { oldest_sequence })
            }
        };
        if rows.is_empty() && last.sequence > revocations::latest_sequence(pool).await? {
            return Err(ApiError::FeedMoved);
        }
        return Ok(rows);
    }
    match revocations::after_position(pool, last, REPLAY_BATCH)
        .instrument(span())
        .await?
    {
        Anchored::Rows(rows) => Ok(rows),
        Anchored::Moved => Err(ApiError::FeedMoved),
        Anchored::Pruned { oldest_sequence } => Err(ApiError::ResyncRequired { oldest_sequence }),
    }
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy)]
pub enum WatchFrom {
    /// After this position (sequence 0: every retained revocation).
    After(FeedPosition),
    /// At the newest revocation, announced by a checkpoint.
    Head,
}

/// One message of a stream.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A revocation.
    Revoked(Revocation),
    /// A position without a revocation (where a stream from the head starts).
    Checkpoint(FeedPosition),
}

/// How long a new stream waits for this replica's feed to be live before it answers UNAVAILABLE.
const FEED_START_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Open WatchRevocations streams per caller.
#[derive(Clone, Default)]
pub struct Watchers {
    open: Arc<Mutex<HashMap<Uuid, usize>>>,
}

/// One open stream; closing the stream (dropping this) frees the slot.
struct WatchSlot {
    watchers: Watchers,
    key: Uuid,
}

impl Watchers {
    fn admit(&self, key: Uuid, limit: usize) -> Option<WatchSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(WatchSlot {
            watchers: self.clone(),
            key,
        })
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = self.watchers.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Whether `caller` may read the whole revocation feed.
pub(super) fn may_watch(caller: &TokenView) -> Result<(), ApiError> {
    if !caller.permissions.permits(INTROSPECT) {
        return Err(ApiError::AuthDenied(
            "the caller's token lacks the introspect permission".into(),
        ));
    }
    let feed_token = match caller.kind {
        TokenKind::Static | TokenKind::Master => true,
        TokenKind::Service => caller.role.is_none_or(|role| role.is_session_root()),
        TokenKind::Session | TokenKind::Elevated | TokenKind::Api => false,
    };
    if feed_token {
        Ok(())
    } else {
        Err(ApiError::AuthDenied(
            "the revocation feed is for edges and replicas: use a SERVICE token with introspect issued by an admin account, or a static token".into(),
        ))
    }
}

impl Authority {
    /// Every revocation after `from`, then each new one as it is committed, until the caller's
    /// token is revoked or expires, or this replica's feed stops being current (UNAVAILABLE) or
    /// finds the feed moved backwards (RESYNC_REQUIRED).
    pub fn watch_revocations(
        &self,
        caller: &TokenView,
        from: WatchFrom,
    ) -> Result<impl Stream<Item = Result<Frame, ApiError>>, ApiError> {
        may_watch(caller)?;
        let feed = self.feed.clone().ok_or_else(|| {
            ApiError::Internal("this server runs without a revocation feed".into())
        })?;
        let limit = self.settings.watch_streams_per_caller;
        let slot = self
            .watchers
            .admit(caller.subject.unwrap_or(caller.id), limit)
            .ok_or_else(|| {
                ApiError::ResourceExhausted(format!(
                    "at most {limit} WatchRevocations streams per caller; close one first"
                ))
            })?;
        let pool = self.pool.clone();
        let me = caller.id;
        // The expiry is measured on the server's clock, then waited out on the runtime's.
        let expires_in = caller
            .expires_at
            .map(|at| std::time::Duration::try_from(at - self.clock.now()).unwrap_or_default());
        // Subscribe before replaying so nothing committed during the replay is missed.
        let mut live = feed.subscribe();
        let mut state = feed.state();
        Ok(async_stream::try_stream! {
            let _slot = slot;
            let expiry = async move {
                match expires_in {
                    Some(left) => tokio::time::sleep(left).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(expiry);
            // Only a replica whose own feed is current may tell others what is revoked.
            let generation = live_generation(&mut state).await?;
            let mut last = match from {
                WatchFrom::After(position) => position,
                WatchFrom::Head => {
                    let head = revocations::head(&pool).await?;
                    yield Frame::Checkpoint(head);
                    head
                }
            };
            loop {
                let batch = read_after(&pool, &last).await?;
                let full = batch.len() as i64 == REPLAY_BATCH;
                for revocation in batch {
                    last = revocation.position();
                    let mine = revocation.token_id == me;
                    yield Frame::Revoked(revocation);
                    if mine { Err(ApiError::AuthFailed)?; }
                }
                if !full { break; }
            }
            loop {
                let event = match next_live(&mut live, &mut state, generation, expiry.as_mut()).await? {
                    Some(event) => event,
                    None => break,
                };
                let batch = match event {
                    Ok(revocation) if revocation.sequence <= last.sequence => Vec::new(),
                    Ok(revocation) if revocation.sequence == last.sequence + 1 => vec![revocation],
                    // A jump: a rolled-back revoke burnt sequence numbers, or this replica's feed
                    // reconnected past pruned history. The table tells which.
                    Ok(_) => read_after(&pool, &last).await?,
                    // Fell behind the in-process feed: read what was missed from the table.
                    Err(RecvError::Lagged(_)) => read_after(&pool, &last).await?,
                    Err(RecvError::Closed) => break,
                };
                for revocation in batch {
                    last = revocation.position();
                    let mine = revocation.token_id == me;
                    yield Frame::Revoked(revocation);
                    // The caller's own token is gone: so is its right to this stream.
                    if mine { Err(ApiError::AuthFailed)?; }
                }
            }
        })
    }
}

/// The next thing the live phase of a watch hears: a revocation (or that the in-process feed
/// lagged or moved backwards), `None` when the feed is gone. Fails the stream when this replica's
/// feed stops being current (UNAVAILABLE), finds the feed moved (RESYNC_REQUIRED), or the
/// caller's token expires (AUTH_FAILED).
async fn next_live(
    live: &mut tokio::sync::broadcast::Receiver<Revocation>,
    state: &mut tokio::sync::watch::Receiver<FeedState>,
    generation: u64,
    mut expiry: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Option<Result<Revocation, RecvError>>, ApiError> {
    loop {
        let event = tokio::select! {
            event = live.recv() => Some(event),
            changed = state.changed() => {
                if changed.is_err() { return Ok(None); }
                let now = *state.borrow_and_update();
                match now {
                    FeedState::Live { generation: g, .. } if g == generation => continue,
                    // Found the feed moved backwards: the watcher starts over.
                    FeedState::Live { .. } => Some(Err(RecvError::Closed)),
                    // Cannot prove itself current: the watcher follows another replica.
                    FeedState::Down => None,
                }
            }
            () = expiry.as_mut() => None,
        };
        let now = *state.borrow();
        match now {
            FeedState::Live { generation: g, .. } if g == generation => {}
            FeedState::Live { .. } => return Err(ApiError::FeedMoved),
            FeedState::Down => return Err(ApiError::Unavailable),
        }
        // The caller's token expired: its right to this stream with it.
        return event.map(Some).ok_or(ApiError::AuthFailed);
    }
}

/// Waits (briefly) for this replica's feed to be live; its generation, or UNAVAILABLE.
async fn live_generation(
    state: &mut tokio::sync::watch::Receiver<FeedState>,
) -> Result<u64, ApiError> {
    let live = tokio::time::timeout(
        FEED_START_WAIT,
        state.wait_for(|s| matches!(s, FeedState::Live { .. })),
    )
    .await;
    match live {
        Ok(Ok(now)) => match *now {
            FeedState::Live { generation, .. } => Ok(generation),
            FeedState::Down => Err(ApiError::Unavailable),
        },
        _ => Err(ApiError::Unavailable),
    }
}
