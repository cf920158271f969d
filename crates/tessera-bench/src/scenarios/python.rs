//! The Python client as a benchmark client: `python/tessera_load.py` drives replica A through the
//! package's `AsyncClient` (grpcio), the way a Python service calls Tessera, with the phases and
//! JSON lines of the grpc-go generator; cached Introspect and CheckNamespace against Check.

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context};

use super::{
    clients::{run_load_program, workspace_root, Phase},
    list, median, per_second, Bench, IDENTIFIERS,
};

/// The Python with the client's dependencies: `$TESSERA_BENCH_PYTHON`, else the client's venv
/// (made by `clients/python/tools/venv.sh`, which installs the pinned grpcio when missing; a smoke
/// run only takes a venv that is already there).
fn python(smoke: bool) -> anyhow::Result<PathBuf> {
    if let Some(python) = std::env::var_os("TESSERA_BENCH_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    if smoke {
        let venv = workspace_root().join("clients/python/.venv/bin/python");
        anyhow::ensure!(
            venv.is_file(),
            "no clients/python/.venv (run clients/python/tools/venv.sh, or set TESSERA_BENCH_PYTHON)"
        );
        return Ok(venv);
    }
    let made = Command::new("bash")
        .arg(workspace_root().join("clients/python/tools/venv.sh"))
        .output()
        .context("running clients/python/tools/venv.sh")?;
    if !made.status.success() {
        bail!(
            "clients/python/tools/venv.sh: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let venv = String::from_utf8_lossy(&made.stdout).trim().to_owned();
    Ok(PathBuf::from(venv).join("bin/python"))
}

impl Bench {
    fn python_load(&self, python: &PathBuf, args: &[String]) -> anyhow::Result<Vec<Phase>> {
        let root = workspace_root();
        let mut command = Command::new(python);
        command
            .arg(root.join("crates/tessera-bench/python/tessera_load.py"))
            .arg("--addr")
            .arg(self.a.addr.to_string())
            .arg("--caller")
            .arg(&self.caller_token)
            .arg("--target")
            .arg(&self.hot)
            .args(args)
            .env("PYTHONPATH", root.join("clients/python/src"));
        run_load_program("python", &mut command)
    }

    /// Cached Introspect and CheckNamespace against Check, from the Python client.
    pub(super) async fn python(&mut self) -> anyhow::Result<()> {
        let smoke = self.options.smoke;
        let interpreter = match tokio::task::block_in_place(|| python(smoke)) {
            Ok(python) => python,
            Err(err) => {
                self.not_run("Python client rows", &err);
                return Ok(());
            }
        };
        let n = self.options.concurrency;
        let args = [
            "--calls".to_owned(),
            "check,introspect,checknamespace".to_owned(),
            "--rounds".to_owned(),
            self.options.rounds.to_string(),
            "--phase".to_owned(),
            format!("{:.3}", self.options.phase.as_secs_f64()),
            "--concurrency".to_owned(),
            n.to_string(),
            "--ids".to_owned(),
            IDENTIFIERS.to_string(),
        ];
        let phases = tokio::task::block_in_place(|| self.python_load(&interpreter, &args))?;
        let (checks, introspects, namespaces) = self.load_ratio_rows(
            &phases,
            &format!("Python client (grpcio aio): cached Introspect / Check ({n} in flight)"),
            &format!("Python client: CheckNamespace ({IDENTIFIERS} ids) / Check"),
            (0.85, 0.85),
        );
        let p50 = |call: &str| {
            median(
                &phases
                    .iter()
                    .filter(|p| p.call == call)
                    .map(|p| p.p50_us)
                    .collect::<Vec<_>>(),
            )
        };
        self.details.push(format!(
            "Python (crates/tessera-bench/python/tessera_load.py, one grpcio aio channel) per round (calls/s): Check [{}]; Introspect [{}]; CheckNamespace [{}]; p50 Check {:.0} µs, Introspect {:.0} µs, CheckNamespace {:.0} µs",
            list(&checks, per_second),
            list(&introspects, per_second),
            list(&namespaces, per_second),
            p50("check"),
            p50("introspect"),
            p50("checknamespace"),
        ));
        Ok(())
    }
}
