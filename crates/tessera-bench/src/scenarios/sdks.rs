//! The Java and Node clients as benchmark clients, as `python.rs` runs the Python one.
//!
//! `java/TesseraLoad.java` (run as a single-file source program on the classpath of
//! `clients/java`, which Maven builds once) and `node/tessera_load.mjs` (over
//! `clients/typescript/dist`, built by `npm run build`) drive replica A the way a JVM or Node
//! service calls Tessera, with the phases and JSON lines of `python/tessera_load.py`: cached
//! Introspect and CheckNamespace against Check with the same client and the same concurrency, and
//! `--sequential N` for the latency row against tonic. Goals (issue 31): Java ≥ 0.85×, Node ≥ 0.8×
//! of the same client's Check; sequential Introspect p50 ≤ 1.5× tonic's.

use std::{
    io::{BufRead, BufReader, Lines, Write},
    path::PathBuf,
    process::{ChildStdout, Command, Stdio},
};

use anyhow::{bail, Context};

use super::{
    clients::{run_load_program, workspace_root, Phase},
    list, median, per_second, ratio_row, Bench, IDENTIFIERS,
};

/// Sequential calls per client and round in the latency comparison (as `clients.rs`).
const SEQUENTIAL_CALLS: usize = 50;

/// Rounds of the latency comparison, tonic's and the SDK's alternating: on a shared machine the
/// load moves within seconds, and a round measured under a burst of someone else's work (the SDK's
/// call costs its process about 200 µs of CPU, tonic's far less) must not decide the row.
const SEQUENTIAL_ROUNDS: usize = 5;

/// The next line of a load program that `wanted` accepts (skipping others).
fn line_where(
    lines: &mut Lines<BufReader<ChildStdout>>,
    name: &str,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    for line in lines {
        let line = line.with_context(|| format!("reading the {name} load program"))?;
        if wanted(&line) {
            return Ok(line);
        }
    }
    bail!("the {name} load program ended early")
}

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
    /// The SDK's load program against replica A, with the caller's and the target's tokens.
    fn sdk_command(&self, sdk: &Sdk) -> anyhow::Result<Command> {
        let (program, rest) = sdk.program.split_first().context("empty program")?;
        let mut command = Command::new(program);
        command
            .args(rest)
            .arg("--addr")
            .arg(self.a.addr.to_string())
            .arg("--caller")
            .arg(&self.caller_token)
            .arg("--target")
            .arg(&self.hot);
        Ok(command)
    }

    fn sdk_load(&self, sdk: &Sdk, args: &[String]) -> anyhow::Result<Vec<Phase>> {
        let mut command = self.sdk_command(sdk)?;
        command.args(args);
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

        // Sequential: one call at a time, in rounds of tonic's calls then the SDK's (the load
        // program, warmed up, waits for a line on its standard input before each of its rounds).
        let mut child = self
            .sdk_command(&sdk)?
            .args(["--calls", "introspect", "--interleave", "--sequential"])
            .arg(SEQUENTIAL_CALLS.to_string())
            .arg("--rounds")
            .arg(SEQUENTIAL_ROUNDS.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("running the {} load program", sdk.name))?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        tokio::task::block_in_place(|| line_where(&mut lines, sdk.name, |l| l == "ready"))?;
        // Unmeasured: tonic's connection and the replica's cache entry warm, as the SDK's are.
        self.tonic_sequential_p50().await?;
        let (mut tonic, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..SEQUENTIAL_ROUNDS {
            let tonic_p50 = self.tonic_sequential_p50().await?;
            let phase: Phase = tokio::task::block_in_place(|| -> anyhow::Result<Phase> {
                writeln!(stdin, "go")?;
                stdin.flush()?;
                let line = line_where(&mut lines, sdk.name, |l| l.starts_with('{'))?;
                Ok(serde_json::from_str(&line)?)
            })?;
            if phase.errors > 0 || phase.calls == 0 {
                bail!(
                    "{} sequential phase failed: {} errors, first: {}",
                    sdk.name,
                    phase.errors,
                    phase.first_error.as_deref().unwrap_or("none")
                );
            }
            tonic.push(tonic_p50);
            theirs.push(phase.p50_us);
            ratios.push(phase.p50_us / tonic_p50);
        }
        drop(stdin);
        let status = tokio::task::block_in_place(|| child.wait())?;
        if !status.success() {
            bail!("the {} load program failed: {status}", sdk.name);
        }
        self.rows.push(ratio_row(
            &format!(
                "{} sequential Introspect p50 / tonic p50 ({SEQUENTIAL_ROUNDS} interleaved rounds of {SEQUENTIAL_CALLS} calls)",
                sdk.name
            ),
            format!("tonic {:.0} µs", median(&tonic)),
            format!("{} {:.0} µs", sdk.name, median(&theirs)),
            median(&ratios),
            None,
            Some(1.5),
        ));
        self.details.push(format!(
            "{} sequential p50 per round (µs): tonic [{}]; {} [{}]",
            sdk.name,
            list(&tonic, |v| format!("{v:.0}")),
            sdk.name,
            list(&theirs, |v| format!("{v:.0}"))
        ));
        Ok(())
    }
}
