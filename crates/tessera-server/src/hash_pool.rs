//! A bounded pool for password hashing: argon2 is deliberately slow, so it runs on dedicated
//! threads, at most `workers` at once, with at most `queue` more waiting. Past that, new work is
//! refused at once (RESOURCE_EXHAUSTED) rather than queued, so a login flood cannot starve Introspect.
//!
//! Fairness: one source (a client address) holds at most `per_source` of those places, so a
//! flood from one address, which never logs in, cannot take every place from the clients at other
//! addresses that do (issue 30: 200 flooding threads refused 58 of 58 real logins). Attempts on
//! one account are bounded by its reservations (`users::reserve_attempt`).
//!
//! The hashing threads run at the lowest scheduling priority (nice 19): bounding the queue keeps a
//! flood from piling up, and the priority keeps the hashes that do run from taking CPU time the
//! async workers serving Introspect need (with one worker per core, a flood would otherwise keep
//! every core busy hashing). Idle CPU still goes to hashing, so capacity is unchanged when the
//! server is otherwise quiet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    mpsc, Arc, Mutex,
};

use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Handle to the pool.
#[derive(Clone)]
pub struct HashPool {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    limit: usize,
    workers: usize,
    rejected: Arc<AtomicU64>,
    finished: Arc<AtomicU64>,
    threads: Arc<Mutex<mpsc::Sender<Job>>>,
    per_source: usize,
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Nice value of the hashing threads (higher is lower priority).
pub const HASHING_NICE: i32 = 19;

/// Puts the calling thread below every other: `SCHED_IDLE` (it runs only when no other thread
/// of the machine wants the core, and yields to a waking RPC worker at once, where nice 19 still
/// gets a slice), and nice 19 as well, which is what remains where the policy cannot be set.
/// Linux: both apply to this thread only. Failure (a sandbox forbidding it) leaves the default
/// priority, which is still correct, only less isolated.
fn lower_this_threads_priority() {
    let current = rustix::process::getpriority_process(None).unwrap_or(0);
    if current < HASHING_NICE {
        let _ = rustix::process::setpriority_process(None, HASHING_NICE);
    }
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadPriority, ThreadSchedulePolicy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(error) =
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        {
            tracing::debug!(?error, "SCHED_IDLE refused; hashing runs at nice 19 only");
        }
    }
}

/// Starts `workers` hashing threads taking jobs from one channel; they end when every sender
/// (every clone of the pool) is gone.
fn start_threads(workers: usize) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..workers {
        let receiver = Arc::clone(&receiver);
        let spawned = std::thread::Builder::new()
            .name(format!("tessera-argon2-{index}"))
            .spawn(move || {
                lower_this_threads_priority();
                loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    // A panicking job drops its answer channel (the caller sees an error); the
                    // thread lives on for the next one.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
        if let Err(err) = spawned {
            tracing::error!(error = %err, "could not start a password hashing thread");
        }
    }
    sender
}

impl HashPool {
    /// A pool running `workers` jobs at once with `queue` more waiting, at most `per_source` of
    /// them from one client address (0: a quarter of the places, but never fewer than the
    /// workers and one waiting, so a small pool keeps its queue for one client).
    pub fn new(workers: usize, queue: usize, per_source: usize) -> HashPool {
        let workers = workers.max(1);
        let per_source = match per_source {
            0 => ((workers + queue) / 4).max(workers + 1),
            n => n,
        };
        HashPool {
            per_source,
            sources: Arc::new(Mutex::new(HashMap::new())),
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            limit: workers + queue,
            workers,
            rejected: Arc::new(AtomicU64::new(0)),
            finished: Arc::new(AtomicU64::new(0)),
            threads: Arc::new(Mutex::new(start_threads(workers))),
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

    /// Jobs run to completion since start (every password hash or verification). Answers that
    /// must cost the same, such as a locked account's and a wrong password's, are checked by it.
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }

    /// Takes a place in the pool for one request, or refuses at once when it is full. Take it
    /// before any other work (database reads, attempt reservations), so a refused request has cost
    /// nothing and is answered in microseconds; the place is held until the ticket is dropped.
    pub fn admit(&self) -> Result<Ticket, ApiError> {
        self.admit_from(None)
    }

    /// [`HashPool::admit`] for a request from `source`: refused as well when that address already
    /// holds its share of the places.
    pub fn admit_from(&self, source: Option<IpAddr>) -> Result<Ticket, ApiError> {
        let source_slot = match source {
            Some(address) => Some(self.take_source_place(address)?),
            None => None,
        };
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        let slot = HashSlot(Arc::clone(&self.admitted));
        if admitted >= self.limit {
            return Err(self.refuse());
        }
        Ok(Ticket {
            pool: self.clone(),
            _slot: slot,
            _source: source_slot,
        })
    }

    /// The most places one client address may hold.
    pub fn per_source(&self) -> usize {
        self.per_source
    }

    fn take_source_place(&self, address: IpAddr) -> Result<SourceSlot, ApiError> {
        let mut sources = self
            .sources
            .lock()
            .map_err(|_| ApiError::Internal("hash pool poisoned".into()))?;
        let held = sources.entry(address).or_insert(0);
        if *held >= self.per_source {
            drop(sources);
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::ResourceExhausted(
                "too many password checks in flight from this address; retry shortly".into(),
            ));
        }
        *held += 1;
        Ok(SourceSlot {
            sources: Arc::clone(&self.sources),
            address,
        })
    }

    fn refuse(&self) -> ApiError {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        ApiError::ResourceExhausted("too many password checks in flight; retry shortly".into())
    }

    /// Jobs admitted and not yet finished (running or queued).
    pub fn depth(&self) -> usize {
        self.admitted.load(Ordering::Relaxed)
    }

    /// Runs `job` on a hashing thread, carrying the current span; refuses at once when full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.admit()?.run(job).await
    }
}

/// A place in the pool ([`HashPool::admit`]): its holder's hashes run without being refused.
pub struct Ticket {
    pool: HashPool,
    _slot: HashSlot,
    _source: Option<SourceSlot>,
}

impl Ticket {
    /// Runs `job` on a hashing thread once one is free, carrying the current span.
    pub async fn run<T, F>(&self, job: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = tracing::Instrument::instrument(
            self.pool.running.acquire(),
            tracing::info_span!("argon2.queue_wait"),
        )
        .await
        .map_err(|_| ApiError::Internal("hash pool closed".into()))?;
        let span = tracing::info_span!("argon2.hash");
        let finished = Arc::clone(&self.pool.finished);
        let (answer, answered) = tokio::sync::oneshot::channel();
        let submitted = self
            .pool
            .threads
            .lock()
            .map_err(|_| ApiError::Internal("hash pool poisoned".into()))?
            .send(Box::new(move || {
                let result = span.in_scope(job);
                // Counted before answering, so the caller sees its own job in the count.
                finished.fetch_add(1, Ordering::Relaxed);
                let _ = answer.send(result);
            }));
        if submitted.is_err() {
            return Err(ApiError::Internal("hashing threads are gone".into()));
        }
        answered
            .await
            .map_err(|_| ApiError::Internal("hashing task failed".into()))
    }
}

/// A place held by one client address, given back on drop.
struct SourceSlot {
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Ok(mut sources) = self.sources.lock() {
            if let Some(held) = sources.get_mut(&self.address) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    sources.remove(&self.address);
                }
            }
        }
    }
}

struct HashSlot(Arc<AtomicUsize>);

impl Drop for HashSlot {
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
        let pool = HashPool::new(1, 1, 0);
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
        assert!(matches!(pool.admit(), Err(ApiError::ResourceExhausted(_))));
        assert_eq!(pool.rejected(), 2);
        assert_eq!(pool.capacity(), 2);
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        for job in running {
            job.await.unwrap().unwrap();
        }
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test]
    async fn hashes_run_at_low_priority_and_survive_a_panic() {
        let pool = HashPool::new(1, 1, 0);
        let (nice, stat) = pool
            .run(|| {
                (
                    rustix::process::getpriority_process(None).unwrap_or(0),
                    std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default(),
                )
            })
            .await
            .unwrap();
        // Field 41 of /proc/<tid>/stat is the policy (5: SCHED_IDLE); fields are counted after
        // the command name's closing parenthesis.
        let policy = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(38))
            .unwrap_or_default();
        assert_eq!(
            policy, "5",
            "hashing thread policy (5 is SCHED_IDLE): {stat}"
        );
        assert!(
            nice >= HASHING_NICE || policy == "5",
            "hashing thread runs at nice {nice}"
        );
        let panicked = pool.run(|| panic!("argon2 exploded")).await;
        assert!(matches!(panicked, Err(ApiError::Internal(_))));
        assert_eq!(pool.run(|| 7).await.unwrap(), 7, "the thread lives on");
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test]
    async fn one_address_holds_at_most_its_share() {
        let pool = HashPool::new(1, 7, 2);
        let flood: IpAddr = [127, 0, 0, 2].into();
        let held = [pool.admit_from(Some(flood)), pool.admit_from(Some(flood))];
        assert!(held.iter().all(Result::is_ok));
        assert!(matches!(
            pool.admit_from(Some(flood)),
            Err(ApiError::ResourceExhausted(_))
        ));
        let other = pool.admit_from(Some([127, 0, 0, 1].into()));
        assert!(other.is_ok(), "another address still gets a place");
        drop(held);
        assert!(pool.admit_from(Some(flood)).is_ok(), "places come back");
        assert_eq!(HashPool::new(1, 63, 0).per_source(), 16);
        assert_eq!(HashPool::new(2, 1, 0).per_source(), 3);
    }
}
