//! The load engine: closed loop (a fixed number of calls in flight, each worker sending its next
//! call as soon as the last one answers) and open loop (calls sent at a fixed arrival rate whatever
//! the answers do, latency measured from each call's *scheduled* send time, so a stalled server
//! cannot hide its stall by slowing the generator: no coordinated omission).
//!
//! Latencies go into HDR histograms in nanoseconds (1 µs to 60 s, 3 significant digits).

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tonic::{Code, Status};

/// What one call came to. `None` from a call generator means "nothing left to send".
pub type CallResult = Result<(), Status>;

/// Calls and latencies of one measurement.
#[derive(Clone)]
pub struct Sample {
    /// Latencies of successful calls (ns).
    pub ok: Histogram<u64>,
    /// Latencies of calls refused with RESOURCE_EXHAUSTED (ns).
    pub refused: Histogram<u64>,
    /// Calls that failed otherwise.
    pub errors: u64,
    /// The first such failure, for the report.
    pub first_error: Option<String>,
    /// Open loop: calls not sent because `max_in_flight` calls were still open.
    pub dropped: u64,
    /// Wall time of the measurement.
    pub elapsed: Duration,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid histogram bounds")
}

impl Default for Sample {
    fn default() -> Self {
        Sample {
            ok: histogram(),
            refused: histogram(),
            errors: 0,
            first_error: None,
            dropped: 0,
            elapsed: Duration::ZERO,
        }
    }
}

impl Sample {
    fn record(&mut self, result: &CallResult, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        match result {
            Ok(()) => self.ok.saturating_record(nanos),
            Err(status) if status.code() == Code::ResourceExhausted => {
                self.refused.saturating_record(nanos)
            }
            Err(status) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{:?}: {}", status.code(), status.message()));
                }
            }
        }
    }

    fn merge(&mut self, other: &Sample) {
        let _ = self.ok.add(&other.ok);
        let _ = self.refused.add(&other.refused);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.dropped += other.dropped;
    }

    /// Successful calls per second.
    pub fn throughput(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ok.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `quantile` (0..=1) of successful calls' latency.
    pub fn ok_quantile(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.ok.value_at_quantile(quantile))
    }

    /// The `quantile` of refused calls' latency.
    pub fn refused_quantile(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.refused.value_at_quantile(quantile))
    }
}

/// Runs `concurrency` workers for `duration`; worker `w`'s `n`-th call is `call(w, n)`. A worker
/// also stops when its generator returns `None`.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Sample
where
    F: Fn(usize, u64) -> Option<Fut> + Send + Sync + 'static,
    Fut: Future<Output = CallResult> + Send + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let end = started + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|worker| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                let mut sample = Sample::default();
                let mut n = 0;
                while Instant::now() < end {
                    let Some(future) = call(worker, n) else { break };
                    n += 1;
                    let sent = Instant::now();
                    let result = future.await;
                    sample.record(&result, sent.elapsed());
                }
                sample
            })
        })
        .collect();
    let mut total = Sample::default();
    for worker in workers {
        if let Ok(sample) = worker.await {
            total.merge(&sample);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Sends `rate` calls per second for `duration` (or until `stop` is set), the `n`-th being
/// `call(n)`, each timed from its scheduled send time. A dedicated thread keeps the schedule
/// (`thread::sleep` is precise to tens of microseconds, the async timer only to a millisecond);
/// the calls themselves run on the current runtime. At most `max_in_flight` calls are open at
/// once; a call that would exceed it is counted as dropped, not sent.
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    stop: Arc<AtomicBool>,
    call: F,
) -> Sample
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: Future<Output = CallResult> + Send + 'static,
{
    let rate = rate.max(1.0);
    let runtime = tokio::runtime::Handle::current();
    let shared = Arc::new(Mutex::new(Sample::default()));
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let dispatcher = {
        let (shared, slots) = (Arc::clone(&shared), Arc::clone(&slots));
        std::thread::spawn(move || {
            let start = Instant::now() + Duration::from_millis(2);
            let total = (rate * duration.as_secs_f64()).ceil() as u64;
            let mut dropped = 0;
            for n in 0..total {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let scheduled = start + Duration::from_secs_f64(n as f64 / rate);
                let now = Instant::now();
                if scheduled > now {
                    std::thread::sleep(scheduled - now);
                }
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    dropped += 1;
                    continue;
                };
                let future = call(n);
                let shared = Arc::clone(&shared);
                runtime.spawn(async move {
                    let result = future.await;
                    let latency = scheduled.elapsed();
                    shared
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(&result, latency);
                    drop(slot);
                });
            }
            let _ = done_tx.send((dropped, start));
        })
    };
    let (dropped, start) = done_rx.await.unwrap_or((0, Instant::now()));
    let _ = dispatcher.join();
    // Every call still open finishes (or the request timeout ends it) before the sample closes.
    let all = u32::try_from(max_in_flight.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(60), slots.acquire_many(all)).await;
    let mut sample = shared.lock().unwrap_or_else(|p| p.into_inner()).clone();
    sample.dropped = dropped;
    sample.elapsed = start.elapsed();
    sample
}

/// The median of `values` (the lower middle for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_loop_counts_and_stops() {
        let sample = closed_loop(4, Duration::from_millis(200), |_, n| {
            (n < 10).then_some(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if n == 3 {
                    Err(Status::resource_exhausted("full"))
                } else {
                    Ok(())
                }
            })
        })
        .await;
        assert_eq!(sample.ok.len(), 4 * 9);
        assert_eq!(sample.refused.len(), 4);
        assert_eq!(sample.errors, 0);
        assert!(sample.ok_quantile(0.5) >= Duration::from_millis(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_keeps_the_rate_and_times_from_the_schedule() {
        let sample = open_loop(
            500.0,
            Duration::from_millis(400),
            1000,
            Arc::new(AtomicBool::new(false)),
            |n| async move {
                if n == 0 {
                    Err(Status::internal("boom"))
                } else {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(sample.ok.len() + sample.errors, 200);
        assert_eq!(sample.errors, 1);
        assert!(sample.first_error.as_deref().unwrap().contains("boom"));
        assert!(sample.ok_quantile(0.5) >= Duration::from_millis(2));
        assert_eq!(sample.dropped, 0);
    }

    #[test]
    fn median_of_rounds() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.0);
        assert_eq!(median(&[]), 0.0);
    }
}
