//! WatchRevocations: replay from the feed table after the subscriber's sequence, then follow the
//! live feed, in order and without gaps or repeats.

use futures::Stream;
use tessera_store::revocations::{self, Revocation};
use tokio::sync::broadcast::error::RecvError;

use super::Authority;
use crate::error::ApiError;

const REPLAY_BATCH: i64 = 500;

impl Authority {
    /// Every revocation after `after_sequence`, then each new one as it is committed.
    pub fn watch_revocations(
        &self,
        after_sequence: i64,
    ) -> Result<impl Stream<Item = Result<Revocation, ApiError>>, ApiError> {
        let feed = self.feed.clone().ok_or_else(|| {
            ApiError::Internal("this server runs without a revocation feed".into())
        })?;
        let pool = self.pool.clone();
        // Subscribe before replaying so nothing committed during the replay is missed.
        let mut live = feed.subscribe();
        Ok(async_stream::try_stream! {
            let mut last = after_sequence;
            loop {
                let batch = revocations::since(&pool, last, REPLAY_BATCH).await?;
                let full = batch.len() as i64 == REPLAY_BATCH;
                for revocation in batch {
                    last = revocation.sequence;
                    yield revocation;
                }
                if !full { break; }
            }
            loop {
                match live.recv().await {
                    Ok(revocation) if revocation.sequence <= last => {}
                    Ok(revocation) => {
                        last = revocation.sequence;
                        yield revocation;
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Fell behind the in-process feed: read what was missed from the table.
                        let batch = revocations::since(&pool, last, REPLAY_BATCH).await?;
                        for revocation in batch {
                            last = revocation.sequence;
                            yield revocation;
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
