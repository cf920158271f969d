//! Revocations that return when they are everywhere: the followers of the revocation feed
//! (replica caches, edges) acknowledge what they applied and hold leases, and a Revoke waits until
//! every follower with a live lease has acknowledged the new sequence or its lease has run out
//! (Chubby's rule). A follower past its lease serves nothing from its cache, so once Revoke
//! returns no cache anywhere admits the revoked tokens; a follower that froze or lost the
//! database costs a Revoke at most one lease.
//!
//! Followers renew their leases only by proving, against the database, that nothing newer than
//! what they acknowledge is committed (`tessera_store::leases`), so the set Revoke waits for only
//! shrinks, and the wait is bounded by the longest lease it saw.

use std::{collections::HashMap, time::Duration};

use tessera_rules::token::TokenKind;
use tessera_store::{
    leases::{self, Follower, Renewal},
    revocations::FeedPosition,
};
use tracing::{debug, warn, Instrument as _};
use uuid::Uuid;

use super::{view::TokenView, Authority};
use crate::error::ApiError;

/// How far a revocation has reached when Revoke returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Propagation {
    /// Every follower acknowledged or saw its lease run out.
    pub everywhere: bool,
    /// Followers that acknowledged.
    pub acknowledged: u32,
    /// Followers whose lease ran out instead, by name.
    pub lapsed: Vec<String>,
}

impl Propagation {
    /// The caller asked not to wait.
    pub fn not_waited() -> Propagation {
        Propagation::default()
    }

    /// Nothing was revoked, so nothing has to reach anyone.
    pub fn nothing_to_wait_for() -> Propagation {
        Propagation {
            everywhere: true,
            ..Propagation::default()
        }
    }
}

/// Between two looks at the followers table when no acknowledgement is announced (the announcing
/// LISTEN may itself be down).
const LOOK_AGAIN: Duration = Duration::from_millis(20);

/// What an acknowledgement came to.
#[derive(Debug, Clone, Copy)]
pub struct Acknowledged {
    /// A lease was granted.
    pub current: bool,
    /// For how long.
    pub lease: Duration,
    /// The newest sequence in the feed.
    pub head: i64,
}

impl Authority {
    /// Waits until every follower with a live lease has applied `sequence` or its lease has run
    /// out. Never fails: the revocation is committed either way, and the answer says how far it
    /// is known to have reached.
    pub(super) async fn await_followers(&self, sequence: i64) -> Propagation {
        let Some(feed) = &self.feed else {
            return Propagation::not_waited();
        };
        let me = feed.follower().id;
        let mut acks = feed.acks();
        // Each follower's lease ends within one lease of the first look, since none is renewed
        // without acknowledging; the margin covers a slow database round trip.
        let give_up = tokio::time::Instant::now() + feed.lease() * 2 + Duration::from_secs(1);
        let mut waited_for: HashMap<Uuid, String> = HashMap::new();
        let mut acknowledged = None;
        let mut unreadable = false;
        loop {
            acks.borrow_and_update();
            let first = acknowledged.is_none();
            let look = leases::unacknowledged(&self.pool, sequence, me, first)
                .instrument(super::store_span("SELECT", "leases::unacknowledged"));
            let (waiting, acked) = match tokio::time::timeout_at(give_up, look).await {
                Ok(Ok(found)) => found,
                // The followers cannot be read (the database is failing over, say): a follower
                // may still hold a lease and serve the revoked tokens from its cache, so Revoke
                // may not return yet. It looks again until every lease that could exist has run
                // out (`give_up`), never returning early (issue 32: a revoked token was accepted
                // after a Revoke that returned here at once).
                Ok(Err(err)) => {
                    if !unreadable {
                        warn!(error = %err, sequence, "could not read the feed's followers; Revoke waits until their leases have run out");
                        unreadable = true;
                    }
                    tokio::time::sleep(LOOK_AGAIN).await;
                    if tokio::time::Instant::now() >= give_up {
                        break;
                    }
                    continue;
                }
                Err(_) => break,
            };
            acknowledged.get_or_insert(acked);
            if waiting.is_empty() {
                return self
                    .settle(sequence, acknowledged.unwrap_or(0), waited_for)
                    .await;
            }
            let soonest = waiting
                .iter()
                .map(|w| w.lease_left)
                .min()
                .unwrap_or(LOOK_AGAIN);
            for follower in waiting {
                waited_for.entry(follower.id).or_insert(follower.name);
            }
            let pause = (soonest + Duration::from_millis(1)).min(LOOK_AGAIN);
            let _ = tokio::time::timeout(pause, acks.changed()).await;
            if tokio::time::Instant::now() >= give_up {
                break;
            }
        }
        warn!(
            sequence,
            "Revoke gave up waiting for the feed's followers (the database is slow or unreachable)"
        );
        Propagation {
            everywhere: false,
            acknowledged: acknowledged.unwrap_or(0),
            lapsed: waited_for.into_values().collect(),
        }
    }

    /// The followers waited for either acknowledged in the end or saw their lease run out.
    async fn settle(
        &self,
        sequence: i64,
        acknowledged: u32,
        waited_for: HashMap<Uuid, String>,
    ) -> Propagation {
        if waited_for.is_empty() {
            return Propagation {
                everywhere: true,
                acknowledged,
                lapsed: Vec::new(),
            };
        }
        let ids: Vec<Uuid> = waited_for.keys().copied().collect();
        let applied = leases::applied(&self.pool, &ids, sequence)
            .await
            .unwrap_or_default();
        let mut lapsed: Vec<String> = waited_for
            .into_iter()
            .filter(|(id, _)| !applied.contains(id))
            .map(|(_, name)| name)
            .collect();
        lapsed.sort();
        if !lapsed.is_empty() {
            warn!(?lapsed, sequence, "followers of the revocation feed did not acknowledge; their leases ran out, so they serve nothing from cache until current again");
        }
        Propagation {
            everywhere: true,
            acknowledged: acknowledged + applied.len() as u32,
            lapsed,
        }
    }

    /// A follower's heartbeat: records what it applied and renews its lease when it is current.
    pub async fn acknowledge(
        &self,
        caller: &TokenView,
        follower_id: Uuid,
        name: &str,
        applied: FeedPosition,
        renew: bool,
    ) -> Result<Acknowledged, ApiError> {
        super::watch::may_watch(caller)?;
        if applied.sequence > 0 && applied.anchor.is_none() {
            return Err(ApiError::invalid(
                "applied_anchor",
                "applied_anchor is required with a non-zero applied_sequence",
            ));
        }
        let lease = self.settings.feed_lease;
        let follower = Follower {
            id: follower_id,
            kind: match caller.kind {
                TokenKind::Service | TokenKind::Static | TokenKind::Master => "edge",
                _ => "follower",
            },
            name: if name.is_empty() {
                format!("follower {follower_id}")
            } else {
                name.to_owned()
            },
        };
        if !renew {
            leases::acknowledge(&self.pool, &follower, &applied)
                .instrument(super::store_span("SELECT", "leases::acknowledge"))
                .await?;
            return Ok(Acknowledged {
                current: false,
                lease,
                head: 0,
            });
        }
        let renewal = leases::renew(&self.pool, &follower, &applied, lease)
            .instrument(super::store_span("SELECT", "leases::renew"))
            .await?;
        debug!(?renewal, follower = %follower.name, "feed acknowledgement");
        match renewal {
            Renewal::Current { head } => Ok(Acknowledged {
                current: true,
                lease,
                head,
            }),
            Renewal::Behind { head } => Ok(Acknowledged {
                current: false,
                lease,
                head,
            }),
            Renewal::Moved | Renewal::Pruned => Err(ApiError::FeedMoved),
            Renewal::Acknowledged => Err(ApiError::Internal(
                "a lease renewal came back as a bare acknowledgement".into(),
            )),
        }
    }

    /// This replica stops following (it drains): its lease is given back so no Revoke waits
    /// for it.
    pub async fn release_lease(&self) {
        if let Some(feed) = &self.feed {
            if let Err(err) = leases::release(&self.pool, feed.follower().id).await {
                debug!(error = %err, "could not give the feed lease back; it runs out by itself");
            }
        }
    }
}
