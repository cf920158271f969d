//! Where the CPU goes: CPU time (user + system) of this process's threads, split into the
//! replica under test and everything else here (the load generator's client side), and of every
//! PostgreSQL process, read from /proc before and after a phase. Divided by the calls made, it
//! is the per-call cost of each tier (the "profile" of a missed throughput goal).

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

/// The benchmark's own postmaster (0: not known yet). Other clusters on the machine (a developer's
/// `tessera dev`, a test run) are left out of the accounting once it is set.
static POSTMASTER: AtomicU32 = AtomicU32::new(0);

/// Counts only `postmaster` and its children as PostgreSQL from now on.
pub fn count_postgres_of(postmaster: u32) {
    POSTMASTER.store(postmaster, Ordering::Relaxed);
}

/// CPU time consumed so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// Threads whose name starts with the replica's prefix.
    pub replica: Duration,
    /// This process's other threads.
    pub client: Duration,
    /// The benchmark's postmaster and its processes (every process named `postgres` until
    /// [`count_postgres_of`] was called), with their reaped children (the postmaster's include
    /// the backends that already exited, e.g. pgbench's).
    pub postgres: Duration,
    /// This process's reaped children (pgbench runs as one).
    pub children: Duration,
}

impl CpuTimes {
    /// Reads the counters now; `replica_prefix` names the replica's runtime threads.
    pub fn now(replica_prefix: &str) -> CpuTimes {
        let tick = Duration::from_secs(1) / rustix::param::clock_ticks_per_second().max(1) as u32;
        let mut times = CpuTimes::default();
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                if let Some(Stat { comm, ticks, .. }) = read_stat(&task.path().join("stat")) {
                    if comm.starts_with(replica_prefix) {
                        times.replica += tick * ticks as u32;
                    } else {
                        times.client += tick * ticks as u32;
                    }
                }
            }
        }
        let postmaster = POSTMASTER.load(Ordering::Relaxed);
        if let Ok(processes) = std::fs::read_dir("/proc") {
            for process in processes.flatten() {
                let name = process.file_name();
                if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let Some(stat) = read_stat(&process.path().join("stat")) else {
                    continue;
                };
                let ours = postmaster == 0
                    || stat.parent == postmaster
                    || name.to_string_lossy() == postmaster.to_string();
                if stat.comm == "postgres" && ours {
                    times.postgres += tick * (stat.ticks + stat.children) as u32;
                }
            }
        }
        if let Some(stat) = read_stat(std::path::Path::new("/proc/self/stat")) {
            times.children = tick * stat.children as u32;
        }
        times
    }

    /// What was consumed between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            replica: self.replica.saturating_sub(earlier.replica),
            client: self.client.saturating_sub(earlier.client),
            postgres: self.postgres.saturating_sub(earlier.postgres),
            children: self.children.saturating_sub(earlier.children),
        }
    }
}

/// CPU time (user + system) another process has consumed so far; zero once it is gone.
pub fn process_cpu(pid: u32) -> Duration {
    let tick = Duration::from_secs(1) / rustix::param::clock_ticks_per_second().max(1) as u32;
    read_stat(std::path::Path::new(&format!("/proc/{pid}/stat")))
        .map_or(Duration::ZERO, |stat| tick * stat.ticks as u32)
}

/// What a /proc stat file tells.
struct Stat {
    comm: String,
    /// Parent process id.
    parent: u32,
    /// utime + stime, in ticks.
    ticks: u64,
    /// cutime + cstime, in ticks.
    children: u64,
}

fn read_stat(path: &std::path::Path) -> Option<Stat> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    // After ") ": state is field 3, the parent field 4; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let parent: u32 = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(Stat {
        comm,
        parent,
        ticks: utime + stime,
        children: cutime + cstime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_burns_measurable_cpu() {
        let before = CpuTimes::now("no-such-prefix");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(200) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let used = CpuTimes::now("no-such-prefix").since(&before);
        assert!(used.client >= Duration::from_millis(100), "{used:?}");
        assert_eq!(used.replica, Duration::ZERO);
    }
}
