//! Every client language as a benchmark client: the grpc-go load generator of `clients/go`
//! (`cmd/tessera-load`, through the Go client as a Go service calls Tessera) drives the cached
//! scenarios, and sequential calls from tonic and grpc-go are compared (a Nagle stall shows as a
//! ~40 ms median on one of them).

use std::{path::PathBuf, process::Command, time::Instant};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::{introspect, list, median, per_second, ratio_row, Bench, IDENTIFIERS};
use crate::report::rate;

/// Sequential calls per client in the latency comparison.
const SEQUENTIAL_CALLS: usize = 50;

/// One phase as `tessera-load` prints it.
#[derive(Debug, Deserialize)]
pub(super) struct Phase {
    pub(super) call: String,
    pub(super) calls: u64,
    pub(super) errors: u64,
    pub(super) per_second: f64,
    pub(super) p50_us: f64,
    pub(super) first_error: Option<String>,
}

/// Where the repository is (the Go module lives in `clients/go`).
pub(super) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Builds `tessera-load` with the machine's Go into the target directory.
fn build_go_load() -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let out = target.join("tessera-load");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg("./cmd/tessera-load")
        .current_dir(root.join("clients/go"))
        .output()
        .context("running go build (is Go installed?)")?;
    if !built.status.success() {
        bail!(
            "go build ./cmd/tessera-load: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    }
    Ok(out)
}

impl Bench {
    fn go_load(&self, binary: &PathBuf, args: &[String]) -> anyhow::Result<Vec<Phase>> {
        let mut command = Command::new(binary);
        command
            .arg("-addr")
            .arg(self.a.addr.to_string())
            .arg("-caller")
            .arg(&self.caller_token)
            .arg("-target")
            .arg(&self.hot)
            .args(args);
        run_load_program("grpc-go", &mut command)
    }

    /// Cached Introspect and CheckNamespace against Check, and sequential latency, from grpc-go.
    pub(super) async fn clients(&mut self) -> anyhow::Result<()> {
        let binary = match build_go_load() {
            Ok(binary) => binary,
            Err(err) => {
                self.not_run("grpc-go client rows", &err);
                return Ok(());
            }
        };
        let (n, rounds) = (self.options.concurrency, self.options.rounds);
        let phase = format!("{}ms", self.options.phase.as_millis());
        let args = [
            "-calls".to_owned(),
            "check,introspect,checknamespace".to_owned(),
            "-rounds".to_owned(),
            rounds.to_string(),
            "-phase".to_owned(),
            phase,
            "-concurrency".to_owned(),
            n.to_string(),
            "-conns".to_owned(),
            self.options.connections.to_string(),
            "-ids".to_owned(),
            IDENTIFIERS.to_string(),
        ];
        let phases = tokio::task::block_in_place(|| self.go_load(&binary, &args))?;
        let (checks, introspects, namespaces) = self.load_ratio_rows(
            &phases,
            &format!("grpc-go client: cached Introspect / Check ({n} in flight)"),
            &format!("grpc-go client: CheckNamespace ({IDENTIFIERS} ids) / Check"),
            (0.9, 0.85),
        );
        self.details.push(format!(
            "grpc-go (clients/go tessera-load) per round (calls/s): Check [{}]; Introspect [{}]; CheckNamespace [{}]",
            list(&checks, per_second),
            list(&introspects, per_second),
            list(&namespaces, per_second)
        ));

        // Sequential: one call at a time, the tonic client first, then grpc-go.
        let tonic_p50 = self.tonic_sequential_p50().await?;
        let sequential = [
            "-calls".to_owned(),
            "introspect".to_owned(),
            "-sequential".to_owned(),
            SEQUENTIAL_CALLS.to_string(),
        ];
        let go = tokio::task::block_in_place(|| self.go_load(&binary, &sequential))?;
        let go_p50 = go.first().map(|p| p.p50_us).unwrap_or(f64::NAN);
        self.rows.push(ratio_row(
            &format!("grpc-go sequential Introspect p50 / tonic p50 ({SEQUENTIAL_CALLS} calls)"),
            format!("tonic {go_tonic:.0} µs", go_tonic = tonic_p50),
            format!("grpc-go {go_p50:.0} µs"),
            go_p50 / tonic_p50,
            None,
            Some(1.5),
        ));
        Ok(())
    }
}

impl Bench {
    /// The per-round rates of Check, Introspect and CheckNamespace out of a load generator's
    /// phases, and the two ratio rows every client language reports (cached Introspect / Check,
    /// CheckNamespace / Check, medians of the per-round ratios).
    /// The median of [`SEQUENTIAL_CALLS`] Introspect calls made one at a time by tonic: the
    /// baseline of every client's sequential row.
    pub(super) async fn tonic_sequential_p50(&self) -> anyhow::Result<f64> {
        let client = self.on_a.auth(0);
        let mut took = Vec::with_capacity(SEQUENTIAL_CALLS);
        for _ in 0..SEQUENTIAL_CALLS {
            let start = Instant::now();
            introspect(client.clone(), self.caller.clone(), self.hot.clone()).await?;
            took.push(start.elapsed().as_secs_f64() * 1e6);
        }
        Ok(median(&took))
    }

    pub(super) fn load_ratio_rows(
        &mut self,
        phases: &[Phase],
        cached_label: &str,
        namespace_label: &str,
        (cached_goal, namespace_goal): (f64, f64),
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let series = |call: &str| -> Vec<f64> {
            phases
                .iter()
                .filter(|p| p.call == call)
                .map(|p| p.per_second)
                .collect()
        };
        let (checks, introspects, namespaces) = (
            series("check"),
            series("introspect"),
            series("checknamespace"),
        );
        let ratio = |target: &[f64]| {
            median(
                &target
                    .iter()
                    .zip(&checks)
                    .map(|(t, c)| t / c)
                    .collect::<Vec<_>>(),
            )
        };
        self.rows.push(ratio_row(
            cached_label,
            format!("Check {}", rate(median(&checks))),
            rate(median(&introspects)),
            ratio(&introspects),
            Some(cached_goal),
            None,
        ));
        self.rows.push(ratio_row(
            namespace_label,
            format!("Check {}", rate(median(&checks))),
            rate(median(&namespaces)),
            ratio(&namespaces),
            Some(namespace_goal),
            None,
        ));
        (checks, introspects, namespaces)
    }
}

/// Runs a client's load program and reads its phases (one JSON object a line); a phase with
/// errors or no calls fails the scenario, naming the program.
pub(super) fn run_load_program(name: &str, command: &mut Command) -> anyhow::Result<Vec<Phase>> {
    let output = command
        .output()
        .with_context(|| format!("running the {name} load program"))?;
    if !output.status.success() {
        bail!(
            "the {name} load program failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let phases = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(serde_json::from_str::<Phase>)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the {name} load program's output"))?;
    if let Some(bad) = phases.iter().find(|p| p.errors > 0 || p.calls == 0) {
        bail!(
            "{name} {} phase failed: {} errors, first: {}",
            bad.call,
            bad.errors,
            bad.first_error.as_deref().unwrap_or("none")
        );
    }
    Ok(phases)
}
