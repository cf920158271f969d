//! A budget of audited writes per caller: every IssueToken and Revoke writes rows that stay (the
//! token, the audit trail), so a `user` account, which anyone may hold, must not be able to write
//! them without bound (issue 30: 532 audit rows a second from one session bury the events that
//! matter). A token bucket per account, refilled at `per_second` up to five seconds' worth; a
//! caller past it gets RESOURCE_EXHAUSTED before anything is written. The budget is this
//! replica's: N replicas allow N times it.
//!
//! Callers that see every token ([`TokenView::sees_every_token`]: admin accounts, elevated
//! tokens, tokens acting for no account) are operators and the services they set up, such as one
//! minting a single-use token per request: they are not budgeted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use uuid::Uuid;

use crate::{error::ApiError, service::view::TokenView};

/// How many seconds of writes a caller may spend at once.
const BURST_SECONDS: f64 = 5.0;
/// Past this many callers tracked, full buckets are forgotten (they hold no debt).
const TRACKED: usize = 10_000;

/// Writes per caller ([`WriteBudget::spend`]).
pub struct WriteBudget {
    per_second: f64,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl WriteBudget {
    /// A budget of `per_second` writes per caller; 0 means no limit.
    pub fn new(per_second: u32) -> WriteBudget {
        WriteBudget {
            per_second: f64::from(per_second),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one write from `caller`'s budget, or refuses when it is spent.
    pub fn spend(&self, caller: &TokenView) -> Result<(), ApiError> {
        if caller.sees_every_token() {
            return Ok(());
        }
        self.spend_at(caller.subject.unwrap_or(caller.id), Instant::now())
    }

    fn spend_at(&self, key: Uuid, now: Instant) -> Result<(), ApiError> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let burst = self.per_second * BURST_SECONDS;
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| ApiError::Internal("write budget poisoned".into()))?;
        if buckets.len() >= TRACKED && !buckets.contains_key(&key) {
            let per_second = self.per_second;
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refilled = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refilled).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(ApiError::ResourceExhausted(format!(
                "this caller made more than {} changes a second; slow down and retry",
                self.per_second
            )));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_caller_past_its_burst_waits_for_the_refill_and_others_are_untouched() {
        let budget = WriteBudget::new(2);
        let (mallory, alice) = (Uuid::new_v4(), Uuid::new_v4());
        let start = Instant::now();
        for _ in 0..10 {
            budget.spend_at(mallory, start).unwrap();
        }
        assert!(matches!(
            budget.spend_at(mallory, start),
            Err(ApiError::ResourceExhausted(_))
        ));
        budget.spend_at(alice, start).unwrap();
        let later = start + Duration::from_millis(600);
        budget.spend_at(mallory, later).unwrap();
        assert!(budget.spend_at(mallory, later).is_err());
        assert!(WriteBudget::new(0).spend_at(mallory, start).is_ok());
    }
}
