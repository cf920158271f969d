//! The Python and Go clients' calls, traced end to end: a small application in each language
//! (`clients/python/tests/trace_call.py`, `clients/go/internal/tracecall`) sets up the
//! OpenTelemetry SDK with the OTLP/gRPC exporter, opens an application span and, under it, logs in
//! (a wrong password, then the right one, each with a TOTP code) and introspects the new session
//! through the Tessera client with tracing on. `tessera dev --otlp-endpoint` exports to the same
//! receiver. The receiver must hold one trace: the application span → the client's Introspect
//! span → the server's Introspect span → its SQL span, each call's server span a child of its
//! client span, and no planted secret in the bytes any process exported.
//!
//! The programs need the Python venv (`bash clients/python/tools/venv.sh`) and Go with the client's
//! modules (`cd clients/go && go mod download`); scripts/test.sh prepares both before the Rust
//! tests. When they are missing these tests fail, naming the command.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tessera_harness::{
    otlp::{by_id, contains_bytes, descends, ExportedSpan, OtlpReceiver},
    workspace_root, DevServer,
};

const USERNAME: &str = "tracer";
const PASSWORD: &str = "planted-password-Hv73q";
const WRONG_PASSWORD: &str = "planted-wrong-password-Lw29d";
const TOTP_CODE: &str = "480317";
const INTROSPECT: &str = "tessera.v1.AuthService/Introspect";
/// How long a client program may take (the Go one is built first; the box may be busy).
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(300);

/// What the client program reports on stdout.
#[derive(Debug, serde::Deserialize)]
struct CallerReport {
    trace_id: String,
    span_id: String,
    token: String,
}

/// The parent-linked chain the test looks for.
#[derive(Debug)]
struct ClientTrace {
    client: ExportedSpan,
    server: ExportedSpan,
    sql: ExportedSpan,
}

/// The caller's trace, complete: every span of the caller's process in the application span's
/// trace, each of its RPC spans parent of a server span, and the Introspect chain down to SQL.
fn client_trace(
    spans: &[ExportedSpan],
    service: &str,
    caller: &CallerReport,
) -> Result<ClientTrace, String> {
    let index = by_id(spans);
    let ours: Vec<&ExportedSpan> = spans.iter().filter(|s| s.service == service).collect();
    let app = ours
        .iter()
        .find(|s| s.span_id == caller.span_id && s.trace_id == caller.trace_id)
        .ok_or("the application span was not exported")?;
    if let Some(stray) = ours.iter().find(|s| s.trace_id != app.trace_id) {
        return Err(format!(
            "{service} exported a span outside the trace: {stray:?}"
        ));
    }
    let rpcs: Vec<&&ExportedSpan> = ours
        .iter()
        .filter(|s| s.name.starts_with("tessera.v1.AuthService/"))
        .collect();
    if rpcs.len() != 3 {
        return Err(format!(
            "{} client RPC spans, want 3 (2 logins, 1 introspect)",
            rpcs.len()
        ));
    }
    for rpc in &rpcs {
        if rpc.parent_span_id != app.span_id {
            return Err(format!(
                "client span not under the application span: {rpc:?}"
            ));
        }
        // Python's instrumentation names it `rpc.system`; otelgrpc, on the newer semantic
        // conventions, `rpc.system.name`.
        let system = rpc
            .attributes
            .get("rpc.system")
            .or_else(|| rpc.attributes.get("rpc.system.name"));
        if system.map(String::as_str) != Some("grpc") {
            return Err(format!("client span without rpc.system=grpc: {rpc:?}"));
        }
        // The server continued exactly the context this call carried.
        let continued = spans.iter().any(|s| {
            s.service == "tessera"
                && s.name == rpc.name
                && s.trace_id == app.trace_id
                && s.parent_span_id == rpc.span_id
        });
        if !continued {
            return Err(format!(
                "no server span is a child of {} ({})",
                rpc.name, rpc.span_id
            ));
        }
    }
    let client = rpcs
        .iter()
        .find(|s| s.name == INTROSPECT)
        .ok_or("no client Introspect span")?;
    let server = spans
        .iter()
        .find(|s| {
            s.service == "tessera" && s.name == INTROSPECT && s.parent_span_id == client.span_id
        })
        .ok_or("no server Introspect span")?;
    let sql = spans
        .iter()
        .find(|s| {
            s.service == "tessera"
                && s.trace_id == app.trace_id
                && s.attributes.get("db.system").map(String::as_str) == Some("postgresql")
                && descends(&index, s, &server.span_id)
        })
        .ok_or("no SQL span under the server's Introspect span")?;
    Ok(ClientTrace {
        client: (**client).clone(),
        server: server.clone(),
        sql: sql.clone(),
    })
}

/// `clients/python/.venv`'s interpreter, running `tests/trace_call.py` against the source tree.
fn python_program() -> anyhow::Result<Command> {
    let dir = workspace_root().join("clients/python");
    let python = dir.join(".venv/bin/python");
    let probe = Command::new(&python)
        .args([
            "-c",
            "import grpc, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc",
        ])
        .output();
    if !matches!(&probe, Ok(out) if out.status.success()) {
        bail!(
            "the Python client's venv ({}) is missing or lacks requirements-dev.txt's packages: \
             run `bash clients/python/tools/venv.sh` (scripts/test.sh does before the Rust tests)",
            python.display()
        );
    }
    let mut command = Command::new(python);
    command
        .args(["-m", "tests.trace_call"])
        .current_dir(&dir)
        .env("PYTHONPATH", dir.join("src"));
    Ok(command)
}

/// `clients/go/internal/tracecall`, built into `out`.
fn go_program(out: &Path) -> anyhow::Result<Command> {
    let dir = workspace_root().join("clients/go");
    if !matches!(Command::new("go").arg("version").output(), Ok(o) if o.status.success()) {
        bail!(
            "`go` is not on PATH: install Go 1.24 or later (clients/go/run-tests.sh and \
             scripts/install-tools.sh need it too)"
        );
    }
    let binary = out.join("tracecall");
    let mut build = Command::new("go");
    build
        .args(["build", "-o"])
        .arg(&binary)
        .arg("./internal/tracecall")
        .current_dir(&dir);
    let (status, _, stderr) = finish_within(build, out, "go build ./internal/tracecall")?;
    if !status.success() {
        bail!(
            "go build ./internal/tracecall failed (modules not downloaded? run \
             `cd clients/go && go mod download`; scripts/test.sh does before the Rust tests):\n{stderr}"
        );
    }
    Ok(Command::new(binary))
}

/// Runs `command` to completion, bounded by [`PROGRAM_TIMEOUT`], with its output in files under
/// `dir` (no pipe to fill); returns the status, stdout and stderr.
fn finish_within(
    mut command: Command,
    dir: &Path,
    what: &str,
) -> anyhow::Result<(std::process::ExitStatus, String, String)> {
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path)?)
        .stderr(std::fs::File::create(&stderr_path)?)
        .spawn()
        .with_context(|| format!("spawning {what}"))?;
    let deadline = Instant::now() + PROGRAM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {PROGRAM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    Ok((status, stdout, stderr))
}

/// Runs the client program to completion (bounded) and parses its report.
fn run_program(
    mut command: Command,
    dev: &DevServer,
    otlp: &str,
    service: &str,
    dir: &Path,
) -> anyhow::Result<CallerReport> {
    command
        .env("TESSERA_ADDR", format!("http://{}", dev.ready.grpc_addr))
        .env("TESSERA_SERVICE_TOKEN", &dev.ready.service_token)
        .env("TRACE_USERNAME", USERNAME)
        .env("TRACE_PASSWORD", PASSWORD)
        .env("TRACE_WRONG_PASSWORD", WRONG_PASSWORD)
        .env("TRACE_TOTP_CODE", TOTP_CODE)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env("OTEL_SERVICE_NAME", service)
        .env("OTEL_TRACES_SAMPLER", "always_on");
    let (status, stdout, stderr) = finish_within(command, dir, &format!("the {service} program"))?;
    if !status.success() {
        bail!("the {service} program exited with {status}:\n{stderr}\n{stdout}");
    }
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("the {service} program's report {line:?}; stderr:\n{stderr}"))
}

/// Where the client program comes from.
enum Language {
    Python,
    Go,
}

async fn one_client_call_is_one_trace(language: Language) -> anyhow::Result<()> {
    let service = match language {
        Language::Python => "tessera-trace-python",
        Language::Go => "tessera-trace-go",
    };
    let work = tempfile::Builder::new()
        .prefix("tessera-client-trace-")
        .tempdir_in("/tmp")?;
    // Fail on a missing toolchain before starting anything.
    let program = match language {
        Language::Python => python_program()?,
        Language::Go => {
            let out = work.path().to_path_buf();
            tokio::task::spawn_blocking(move || go_program(&out)).await??
        }
    };

    let receiver = OtlpReceiver::start().await?;
    let endpoint = receiver.endpoint();
    let accounts =
        format!(r#"[{{"username":"{USERNAME}","password":"{PASSWORD}","role":"user"}}]"#);
    let data_dir = tempfile::Builder::new()
        .prefix("tessera-e2e-")
        .tempdir_in("/tmp")?;
    let mut dev = DevServer::start_in(
        data_dir,
        &["--otlp-endpoint", &endpoint],
        &[
            ("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", &accounts),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )?;

    let report = {
        let dir: PathBuf = work.path().to_path_buf();
        let dev = &dev;
        let endpoint = endpoint.clone();
        // The program blocks this thread; the receiver runs on the runtime's workers.
        tokio::task::block_in_place(|| run_program(program, dev, &endpoint, service, &dir))?
    };

    let spans = receiver
        .wait_for(Duration::from_secs(60), |spans| {
            client_trace(spans, service, &report).is_ok()
        })
        .await;
    let trace = client_trace(&spans, service, &report).unwrap_or_else(|why| {
        let listed: Vec<String> = spans
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}/{} <- {}",
                    s.service, s.name, s.trace_id, s.span_id, s.parent_span_id
                )
            })
            .collect();
        panic!("{service}: {why}; spans received:\n{}", listed.join("\n"))
    });
    assert_eq!(trace.client.trace_id, report.trace_id);
    assert_eq!(trace.server.trace_id, report.trace_id);
    assert!(
        trace.sql.attributes.contains_key("db.operation"),
        "{:?}",
        trace.sql
    );

    let exported = receiver.exported_bytes();
    // The search must be able to find things: the client's own span names are in the same bytes.
    assert!(contains_bytes(&exported, service.as_bytes()));
    assert!(contains_bytes(&exported, INTROSPECT.as_bytes()));
    for (what, secret) in [
        ("the session token", report.token.as_str()),
        ("the service token", dev.ready.service_token.as_str()),
        ("the dev admin token", dev.ready.admin_token.as_str()),
        ("the password", PASSWORD),
        ("the refused password", WRONG_PASSWORD),
        ("the TOTP code", TOTP_CODE),
    ] {
        assert!(
            !contains_bytes(&exported, secret.as_bytes()),
            "{what} was exported in a span ({service})"
        );
    }
    dev.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_call_is_one_trace_from_caller_to_sql_without_secrets() -> anyhow::Result<()>
{
    one_client_call_is_one_trace(Language::Python).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_client_call_is_one_trace_from_caller_to_sql_without_secrets() -> anyhow::Result<()> {
    one_client_call_is_one_trace(Language::Go).await
}
