//! A bounded pool for password hashing: argon2 is deliberately slow, so it runs on blocking threads,
//! at most `workers` at once, with at most `queue` more waiting. Past that, new work is refused at
//! once (RESOURCE_EXHAUSTED) rather than queued, so a login flood cannot starve Introspect.

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc,
};

use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::error::ApiError;

/// Handle to the pool.
#[derive(Clone)]
pub struct HashPool {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    limit: usize,
    workers: usize,
    rejected: Arc<AtomicU64>,
}

impl HashPool {
    /// A pool running `workers` jobs at once with `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> HashPool {
        let workers = workers.max(1);
        HashPool {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            limit: workers + queue,
            workers,
            rejected: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Jobs running on a worker now.
    pub fn running(&self) -> usize {
        self.workers - self.running.available_permits().min(self.workers)
    }

    /// Jobs admitted and waiting for a worker (the queue's depth).
    pub fn queued(&self) -> usize {
        self.depth().saturating_sub(self.running())
    }

    /// Jobs admitted at once (workers plus queue) before new ones are refused.
    pub fn capacity(&self) -> usize {
        self.limit
    }

    /// Jobs refused because the pool was full, since start.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Refuses at once, before any other work is done for a request, when the pool is already
    /// full; `run` still enforces the bound for requests that pass this check.
    pub fn check_capacity(&self) -> Result<(), ApiError> {
        if self.depth() >= self.limit {
            return Err(self.refuse());
        }
        Ok(())
    }

    fn refuse(&self) -> ApiError {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        ApiError::ResourceExhausted("too many password checks in flight; retry shortly".into())
    }

    /// Jobs admitted and not yet finished (running or queued).
    pub fn depth(&self) -> usize {
        self.admitted.load(Ordering::Relaxed)
    }

    /// Runs `job` on a blocking thread, carrying the current span; refuses at once when full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        let _slot = Admission(Arc::clone(&self.admitted));
        if admitted >= self.limit {
            return Err(self.refuse());
        }
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("hash pool closed".into()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(job))
            .in_current_span()
            .await
            .map_err(|e| ApiError::Internal(format!("hashing task failed: {e}")))
    }
}

struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn refuses_at_once_when_full() {
        let pool = HashPool::new(1, 1);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let mut running = Vec::new();
        for _ in 0..2 {
            let pool = pool.clone();
            let rx = Arc::clone(&release_rx);
            running.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
                })
                .await
            }));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while pool.depth() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "jobs never admitted"
            );
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|| ()).await;
        assert!(matches!(refused, Err(ApiError::ResourceExhausted(_))));
        assert!(matches!(
            pool.check_capacity(),
            Err(ApiError::ResourceExhausted(_))
        ));
        assert_eq!(pool.rejected(), 2);
        assert_eq!(pool.capacity(), 2);
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        for job in running {
            job.await.unwrap().unwrap();
        }
        assert_eq!(pool.depth(), 0);
    }
}
