//! The expiry sweeper: deletes expired tokens in batches on a schedule, off the hot path (expiry is
//! enforced at read time regardless; this only keeps the table small).

use std::time::Duration;

use tessera_store::tokens as token_store;
use tracing::{info, warn};

use crate::service::Authority;

/// Rows deleted per statement; small batches keep each transaction short.
pub const BATCH: i64 = 1000;
/// Most batches per sweep, so one sweep always ends.
const MAX_BATCHES: usize = 1000;

/// Deletes every token expired at the authority's `now`, batch by batch; returns how many.
pub async fn sweep_once(authority: &Authority) -> Result<u64, tessera_store::StoreError> {
    let now = authority.now();
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let deleted = token_store::sweep_expired(authority.pool(), now, BATCH).await?;
        total += deleted;
        if deleted < BATCH as u64 {
            break;
        }
    }
    Ok(total)
}

/// Runs [`sweep_once`] every `interval` in the background.
pub fn spawn(authority: Authority, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match sweep_once(&authority).await {
                Ok(0) => {}
                Ok(count) => info!(count, "expired tokens swept"),
                Err(err) => {
                    warn!(error = %err, "sweeping expired tokens failed; retrying next interval")
                }
            }
        }
    })
}

/// Starts what runs beside the gRPC server: the static tokens file (loaded now, reloaded on
/// SIGHUP) and the sweeper.
pub async fn start_background(
    authority: &Authority,
    args: &crate::cli::AuthArgs,
) -> anyhow::Result<()> {
    let interval = tessera_core::ttl::parse_ttl(&args.sweep_interval)
        .map_err(|e| anyhow::anyhow!("--sweep-interval (TESSERA_SWEEP_INTERVAL): {e}"))?;
    if let Some(path) = &args.tokens_file {
        crate::static_tokens::install(authority, path.clone()).await?;
    }
    spawn(
        authority.clone(),
        Duration::from_secs(interval.whole_seconds().max(1) as u64),
    );
    Ok(())
}
