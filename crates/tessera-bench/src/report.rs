//! The result: the environment and one table of ratios, printed as Markdown (BENCHMARKS.md quotes
//! it as is).

use std::{fmt, time::Duration};

/// Where the numbers were taken.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// Cores the process may use.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// PostgreSQL `server_version`.
    pub postgres: String,
    /// `release` or `debug`.
    pub build: &'static str,
    /// 1-minute load average when the run started and ended (other work on the machine).
    pub load_before: String,
    /// See `load_before`.
    pub load_after: String,
    /// The run's shape: mode, rounds, phase length, concurrency.
    pub shape: String,
}

impl Environment {
    /// Reads what the machine tells.
    pub fn detect(postgres: String, shape: String) -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Environment {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
                .unwrap_or_else(|| "unknown".into()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
            postgres,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            load_before: load_average(),
            load_after: String::new(),
            shape,
        }
    }
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Whether a goal was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalVerdict {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// A measurement without a goal of its own.
    Info,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub scenario: String,
    /// The baseline's median (with unit).
    pub baseline: String,
    /// The target's median (with unit).
    pub target: String,
    /// The figure the goal is about (a ratio, or a value).
    pub result: String,
    /// The goal.
    pub goal: String,
    /// Met or not.
    pub verdict: GoalVerdict,
}

/// A finished run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The machine.
    pub environment: Environment,
    /// The table.
    pub rows: Vec<Row>,
    /// Per-round figures and other details, one line each.
    pub details: Vec<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// The row whose scenario starts with `prefix`.
    pub fn row(&self, prefix: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.scenario.starts_with(prefix))
    }

    /// Goals missed.
    pub fn missed(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|row| row.verdict == GoalVerdict::Missed)
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = &self.environment;
        writeln!(f, "Environment")?;
        writeln!(f)?;
        writeln!(
            f,
            "- cores: {} ({}), kernel {}",
            env.cores, env.cpu_model, env.kernel
        )?;
        writeln!(
            f,
            "- PostgreSQL {} (embedded, Unix socket), tessera-bench build: {}",
            env.postgres, env.build
        )?;
        writeln!(
            f,
            "- load average (1/5/15 min) before: {}, after: {}",
            env.load_before, env.load_after
        )?;
        writeln!(f, "- run: {}; took {:.0?}", env.shape, self.elapsed)?;
        writeln!(f)?;
        writeln!(
            f,
            "| scenario | baseline (median) | target (median) | result | goal | met |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|")?;
        for row in &self.rows {
            let verdict = match row.verdict {
                GoalVerdict::Met => "yes",
                GoalVerdict::Missed => "**no**",
                GoalVerdict::Info => "",
            };
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} |",
                row.scenario, row.baseline, row.target, row.result, row.goal, verdict
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Details")?;
        writeln!(f)?;
        for line in &self.details {
            writeln!(f, "- {line}")?;
        }
        Ok(())
    }
}

/// `1.23 ms`, `456 µs`.
pub fn ms(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.0} µs")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}

/// `12,345/s`.
pub fn rate(per_second: f64) -> String {
    let whole = per_second.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(rate(12345.4), "12,345/s");
        assert_eq!(rate(999.0), "999/s");
        assert_eq!(ms(Duration::from_micros(456)), "456 µs");
        assert_eq!(ms(Duration::from_micros(1234)), "1.23 ms");
    }
}
