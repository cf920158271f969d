//! The Java and Node clients as benchmark clients, as `python.rs` runs the Python one.
//!
//! `java/TesseraLoad.java` (run as a single-file source program on the classpath of
//! `clients/java`, which Maven builds once) and `node/tessera_load.mjs` (over
//! `clients/typescript/dist`, built by `npm run build`) drive replica A the way a JVM or Node
//! service calls Tessera, with the phases and JSON lines of `python/tessera_load.py`: cached
//! Introspect and CheckNamespace against Check with the same client and the same concurrency, and
//! `--sequential N` for the latency row against tonic. Goals (issue 31): Java ≥ 0.85×, Node ≥ 0.8×
//! of the same client's Check; sequential Introspect p50 ≤ 1.5× tonic's.

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context};

use super::{
    clients::{run_load_program, workspace_root, Phase},
    list, per_second, ratio_row, Bench, IDENTIFIERS,
};

/// Sequential calls per client in the latency comparison (as `clients.rs`).
const SEQUENTIAL_CALLS: usize = 50;

/// One SDK's load program: how to start it, and its goals.
struct Sdk {
    name: &'static str,
    program: Vec<String>,
    throughput_goal: f64,
}

/// `java -cp <clients/java classpath> crates/tessera-bench/java/TesseraLoad.java`. The classpath
/// comes from Maven (offline once `clients/java/run-tests.sh` has resolved it), the client's
/// classes from `mvn compile`.
fn java() -> anyhow::Result<Sdk> {
    let root = workspace_root();
    let module = root.join("clients/java");
    let repo = std::env::var_os("TESSERA_MAVEN_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".m2/repository")
        });
    let classpath_file =
        std::env::temp_dir().join(format!("tessera-bench-java-cp-{}", std::process::id()));
    let built = Command::new("mvn")
        .current_dir(&module)
        .args(["-B", "-q", "-o"])
        .arg(format!("-Dmaven.repo.local={}", repo.display()))
        .args([
            "compile",
            "dependency:build-classpath",
            "-Dmdep.includeScope=runtime",
        ])
        .arg(format!("-Dmdep.outputFile={}", classpath_file.display()))
        .output()
        .context("running mvn (is Maven installed, and clients/java/run-tests.sh run once?)")?;
    if !built.status.success() {
        bail!("mvn compile: {}", String::from_utf8_lossy(&built.stdout));
    }
    let classpath = std::fs::read_to_string(&classpath_file).context("reading the classpath")?;
    let _ = std::fs::remove_file(&classpath_file);
    Ok(Sdk {
        name: "Java",
        program: vec![
            "java".into(),
            "-cp".into(),
            format!(
                "{}:{}",
                classpath.trim(),
                module.join("target/classes").display()
            ),
            root.join("crates/tessera-bench/java/TesseraLoad.java")
                .display()
                .to_string(),
        ],
        throughput_goal: 0.85,
    })
}

/// `node crates/tessera-bench/node/tessera_load.mjs` over `clients/typescript/dist`.
fn node() -> anyhow::Result<Sdk> {
    let root = workspace_root();
    let module = root.join("clients/typescript");
    if !module.join("node_modules").is_dir() {
        bail!("no clients/typescript/node_modules (run scripts/install-tools.sh)");
    }
    let built = Command::new("npm")
        .current_dir(&module)
        .args(["run", "--silent", "build"])
        .output()
        .context("running npm run build")?;
    if !built.status.success() {
        bail!("npm run build: {}", String::from_utf8_lossy(&built.stderr));
    }
    Ok(Sdk {
        name: "Node",
        program: vec![
            "node".into(),
            root.join("crates/tessera-bench/node/tessera_load.mjs")
                .display()
                .to_string(),
        ],
        throughput_goal: 0.8,
    })
}

impl Bench {
    fn sdk_load(&self, sdk: &Sdk, args: &[String]) -> anyhow::Result<Vec<Phase>> {
        let (program, rest) = sdk.program.split_first().context("empty program")?;
        let mut command = Command::new(program);
        command
            .args(rest)
            .arg("--addr")
            .arg(self.a.addr.to_string())
            .arg("--caller")
            .arg(&self.caller_token)
            .arg("--target")
            .arg(&self.hot)
            .args(args);
        run_load_program(sdk.name, &mut command)
    }

    /// Cached Introspect and CheckNamespace against Check, and sequential Introspect against tonic,
    /// from the Java client.
    pub(super) async fn java(&mut self) -> anyhow::Result<()> {
        let sdk = tokio::task::block_in_place(java);
        self.sdk_rows("Java", sdk).await
    }

    /// The same from the Node client.
    pub(super) async fn node(&mut self) -> anyhow::Result<()> {
        let sdk = tokio::task::block_in_place(node);
        self.sdk_rows("Node", sdk).await
    }

    async fn sdk_rows(&mut self, name: &str, sdk: anyhow::Result<Sdk>) -> anyhow::Result<()> {
        let sdk = match sdk {
            Ok(sdk) => sdk,
            Err(err) => {
                self.not_run(format!("{name} client rows"), &err);
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
        let phases = tokio::task::block_in_place(|| self.sdk_load(&sdk, &args))?;
        let goal = sdk.throughput_goal;
        let (checks, introspects, namespaces) = self.load_ratio_rows(
            &phases,
            &format!(
                "{} client: cached Introspect / Check ({n} in flight)",
                sdk.name
            ),
            &format!(
                "{} client: CheckNamespace ({IDENTIFIERS} ids) / Check",
                sdk.name
            ),
            (goal, goal),
        );
        self.details.push(format!(
            "{} per round (calls/s): Check [{}]; Introspect [{}]; CheckNamespace [{}]",
            sdk.name,
            list(&checks, per_second),
            list(&introspects, per_second),
            list(&namespaces, per_second)
        ));

        // Sequential: one call at a time, the tonic client first, then the SDK.
        let tonic_p50 = self.tonic_sequential_p50().await?;
        let sequential = [
            "--calls".to_owned(),
            "introspect".to_owned(),
            "--sequential".to_owned(),
            SEQUENTIAL_CALLS.to_string(),
        ];
        let measured = tokio::task::block_in_place(|| self.sdk_load(&sdk, &sequential))?;
        let p50 = measured.first().map(|p| p.p50_us).unwrap_or(f64::NAN);
        self.rows.push(ratio_row(
            &format!(
                "{} sequential Introspect p50 / tonic p50 ({SEQUENTIAL_CALLS} calls)",
                sdk.name
            ),
            format!("tonic {tonic_p50:.0} µs"),
            format!("{} {p50:.0} µs", sdk.name),
            p50 / tonic_p50,
            None,
            Some(1.5),
        ));
        Ok(())
    }
}
