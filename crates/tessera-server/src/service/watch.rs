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
use tessera_core::{permission::INTROSPECT, token::TokenKind};
use tessera_store::revocations::{self, Retained, Revocation};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::{view::TokenView, Authority};
use crate::error::ApiError;

const REPLAY_BATCH: i64 = 500;

/// Up to a batch of revocations after `after`, or RESYNC_REQUIRED when some were pruned.
async fn read_after(pool: &tessera_store::PgPool, after: i64) -> Result<Vec<Revocation>, ApiError> {
    match revocations::since_retained(pool, after, REPLAY_BATCH)
        .instrument(crate::service::store_span(
            "SELECT",
            "revocations::since_retained",
        ))
        .await?
    {
        Retained::Rows(rows) => Ok(rows),
        Retained::Pruned { oldest_sequence } => Err(ApiError::ResyncRequired { oldest_sequence }),
    }
}

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
fn may_watch(caller: &TokenView) -> Result<(), ApiError> {
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
    /// Every revocation after `after_sequence`, then each new one as it is committed, until the
    /// caller's token is revoked or expires.
    pub fn watch_revocations(
        &self,
        caller: &TokenView,
        after_sequence: i64,
    ) -> Result<impl Stream<Item = Result<Revocation, ApiError>>, ApiError> {
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
        Ok(async_stream::try_stream! {
            let _slot = slot;
            let expiry = async move {
                match expires_in {
                    Some(left) => tokio::time::sleep(left).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(expiry);
            let mut last = after_sequence;
            loop {
                let batch = read_after(&pool, last).await?;
                let full = batch.len() as i64 == REPLAY_BATCH;
                for revocation in batch {
                    last = revocation.sequence;
                    let mine = revocation.token_id == me;
                    yield revocation;
                    if mine { Err(ApiError::AuthFailed)?; }
                }
                if !full { break; }
            }
            loop {
                let event = tokio::select! {
                    event = live.recv() => Some(event),
                    () = &mut expiry => None,
                };
                // The caller's token expired: its right to this stream with it.
                let Some(event) = event else { Err(ApiError::AuthFailed)? };
                let batch = match event {
                    Ok(revocation) if revocation.sequence <= last => Vec::new(),
                    Ok(revocation) if revocation.sequence == last + 1 => vec![revocation],
                    // A jump: a rolled-back revoke burnt sequence numbers, or this replica's feed
                    // reconnected past pruned history. The table tells which.
                    Ok(_) => read_after(&pool, last).await?,
                    // Fell behind the in-process feed: read what was missed from the table.
                    Err(RecvError::Lagged(_)) => read_after(&pool, last).await?,
                    Err(RecvError::Closed) => break,
                };
                for revocation in batch {
                    last = revocation.sequence;
                    let mine = revocation.token_id == me;
                    yield revocation;
                    // The caller's own token is gone: so is its right to this stream.
                    if mine { Err(ApiError::AuthFailed)?; }
                }
            }
        })
    }
}
