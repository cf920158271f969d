//! One request's path as an operator sees it: an HTTP request carrying a W3C `traceparent` goes
//! through the real `tessera-edge-http` to the real `tessera dev`, both exporting over OTLP/gRPC to
//! a receiver built on the official OTLP protobuf definitions. The trace must hold the edge span,
//! the Introspect span and its SQL span, parent-linked under the caller's span, and no planted
//! secret (token, password, TOTP code) anywhere in the exported bytes. The edge's `/metrics` is
//! scraped on the way.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tessera_harness::{
    binary,
    otlp::{by_id, contains_bytes, descends, ExportedSpan, OtlpReceiver},
    DevServer,
};
use tessera_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TRACE_ID: &str = "5a1e0f7e0c0ffee0ba5eba11deadbeef";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const PASSWORD: &str = "planted-password-Zq81x";
const WRONG_PASSWORD: &str = "planted-wrong-password-Kp42v";
const TOTP_CODE: &str = "731902";

/// A running `tessera-edge-http`, killed on drop.
struct HttpEdge {
    child: Child,
    url: String,
    metrics: String,
    _dir: tempfile::TempDir,
}

impl Drop for HttpEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_edge(dev: &DevServer, otlp: &str) -> anyhow::Result<HttpEdge> {
    let dir = tempfile::tempdir()?;
    let ready = dir.path().join("ready.json");
    let log = std::fs::File::create(dir.path().join("edge.log"))?;
    let mut child = Command::new(binary("tessera-edge-http")?)
        .args(["--listen", "127.0.0.1:0", "--demo-upstream"])
        .args(["--tessera", &format!("http://{}", dev.ready.grpc_addr)])
        .args(["--service-token", &dev.ready.service_token])
        .args(["--metrics-listen", "127.0.0.1:0", "--otlp-endpoint", otlp])
        .arg("--ready-file")
        .arg(&ready)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("spawning tessera-edge-http")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let ready: serde_json::Value = serde_json::from_str(&text)?;
            return Ok(HttpEdge {
                child,
                url: ready["url"].as_str().context("url")?.to_owned(),
                metrics: ready["metrics_addr"]
                    .as_str()
                    .context("metrics_addr")?
                    .to_owned(),
                _dir: dir,
            });
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.path().join("edge.log")).unwrap_or_default();
            bail!("tessera-edge-http exited with {status}:\n{log}");
        }
        if Instant::now() > deadline {
            bail!("tessera-edge-http not ready within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request over a fresh connection; the whole response as text.
async fn http(addr: &str, head: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(head.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        stream.read_to_string(&mut response),
    )
    .await
    .context("http response timed out")??;
    Ok(response)
}

/// The complete trace: edge span under the caller's, Introspect under the edge span, a SQL span
/// under Introspect.
fn complete(spans: &[ExportedSpan]) -> Option<(ExportedSpan, ExportedSpan, ExportedSpan)> {
    let ours: Vec<&ExportedSpan> = spans.iter().filter(|s| s.trace_id == TRACE_ID).collect();
    let index = by_id(spans);
    let edge = ours
        .iter()
        .find(|s| s.service == "tessera-edge-http" && s.parent_span_id == CALLER_SPAN)?;
    let introspect = ours.iter().find(|s| {
        s.service == "tessera"
            && s.name == "tessera.v1.AuthService/Introspect"
            && descends(&index, s, &edge.span_id)
    })?;
    let sql = ours.iter().find(|s| {
        s.service == "tessera"
            && s.attributes.get("db.system").map(String::as_str) == Some("postgresql")
            && descends(&index, s, &introspect.span_id)
    })?;
    Some(((*edge).clone(), (*introspect).clone(), (*sql).clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_http_request_is_one_trace_from_edge_to_sql_without_secrets() -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    let accounts = format!(r#"[{{"username":"tracy","password":"{PASSWORD}","role":"user"}}]"#);
    let endpoint = receiver.endpoint();
    let mut dev = DevServer::start(&[
        ("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", &accounts),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])?;
    let mut client = dev.client().await?;
    // Planted: a refused password, then a good one with a TOTP code beside it.
    let refused = client
        .login(pb::LoginRequest {
            username: "tracy".into(),
            password: WRONG_PASSWORD.into(),
            totp_code: TOTP_CODE.into(),
        })
        .await;
    assert!(refused.is_err());
    let login = client
        .login(pb::LoginRequest {
            username: "tracy".into(),
            password: PASSWORD.into(),
            totp_code: TOTP_CODE.into(),
        })
        .await?
        .into_inner();
    let token = login.token.clone();

    let edge = start_edge(&dev, &endpoint)?;
    let authority = edge.url.trim_start_matches("http://").to_owned();
    let response = http(
        &authority,
        &format!(
            "GET /hello HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
             traceparent: 00-{TRACE_ID}-{CALLER_SPAN}-01\r\nConnection: close\r\n\r\n"
        ),
    )
    .await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let spans = receiver
        .wait_for(Duration::from_secs(60), |spans| complete(spans).is_some())
        .await;
    let Some((edge_span, introspect, sql)) = complete(&spans) else {
        let ours: Vec<_> = spans
            .iter()
            .map(|s| {
                format!(
                    "{} {} {} <- {}",
                    s.service, s.name, s.span_id, s.parent_span_id
                )
            })
            .collect();
        panic!(
            "no complete trace {TRACE_ID}; spans received:\n{}",
            ours.join("\n")
        );
    };
    assert_eq!(
        edge_span
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("200")
    );
    assert_eq!(
        introspect.attributes.get("rpc.system").map(String::as_str),
        Some("grpc")
    );
    assert!(sql.attributes.contains_key("db.operation"), "{sql:?}");

    // The token id may appear; the token, the passwords and the TOTP code never.
    let exported = receiver.exported_bytes();
    // The search must be able to find things: span names are in the same bytes.
    assert!(contains_bytes(
        &exported,
        b"tessera.v1.AuthService/Introspect"
    ));
    for (what, secret) in [
        ("the user's token", token.as_str()),
        ("the edge's service token", dev.ready.service_token.as_str()),
        ("the dev admin token", dev.ready.admin_token.as_str()),
        ("the password", PASSWORD),
        ("the refused password", WRONG_PASSWORD),
        ("the TOTP code", TOTP_CODE),
    ] {
        assert!(
            !contains_bytes(&exported, secret.as_bytes()),
            "{what} was exported in a span"
        );
    }

    // The edge counted the request, and Tessera's call, on its own /metrics.
    let scrape = http(
        &edge.metrics,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            edge.metrics
        ),
    )
    .await?;
    assert!(
        scrape.contains("tessera_edge_http_requests_total{outcome=\"allowed\"} 1\n"),
        "{scrape}"
    );
    assert!(
        scrape.contains(
            "tessera_edge_http_tessera_call_duration_seconds_count{rpc=\"Introspect\"} 1\n"
        ),
        "{scrape}"
    );
    drop(edge);
    dev.stop()?;
    Ok(())
}

/// An OTLP endpoint where nothing listens used to drop every span without a word: the start-up
/// says where spans go, and warns that nothing is there.
#[tokio::test]
async fn an_otlp_endpoint_pointing_at_nothing_is_announced_and_warned_about() -> anyhow::Result<()>
{
    let endpoint = format!("http://127.0.0.1:{}", tessera_harness::closed_port());
    let dev = DevServer::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())])?;
    let log = dev.wait_for_log(
        "the OTLP endpoint is not reachable",
        Duration::from_secs(30),
    )?;
    assert!(log.contains("exporting traces over OTLP/gRPC"), "{log}");
    assert!(log.contains(&endpoint), "{log}");
    Ok(())
}

const OAUTH_TRACE_ID: &str = "0a0757a0c0ffee0000000000000c0de1";

/// RFC 7662 over HTTP as an operator traces it: `POST /oauth2/introspect` with a `traceparent` is
/// one trace — the edge span under the caller's, the OAuth endpoint's span (`edge.oauth`) under
/// it, Tessera's Introspect under that — and neither the introspected token nor the resource
/// server's client secret (plain or in its Basic encoding) is exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_introspection_is_one_trace_without_secrets() -> anyhow::Result<()> {
    use base64::Engine as _;
    let receiver = OtlpReceiver::start().await?;
    let endpoint = receiver.endpoint();
    let mut dev = DevServer::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])?;
    let token = dev.ready.admin_token.clone();
    let edge = start_edge(&dev, &endpoint)?;
    let authority = edge.url.trim_start_matches("http://").to_owned();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("rs:{}", dev.ready.service_token));
    let form = format!("token={token}");
    let response = http(
        &authority,
        &format!(
            "POST /oauth2/introspect HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Basic {basic}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             traceparent: 00-{OAUTH_TRACE_ID}-{CALLER_SPAN}-01\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
    )
    .await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"active\":true"), "{response}");

    let traced = |spans: &[ExportedSpan]| {
        let index = by_id(spans);
        let ours: Vec<&ExportedSpan> = spans
            .iter()
            .filter(|s| s.trace_id == OAUTH_TRACE_ID)
            .collect();
        let edge = ours
            .iter()
            .find(|s| s.service == "tessera-edge-http" && s.parent_span_id == CALLER_SPAN)?;
        let oauth = ours
            .iter()
            .find(|s| s.name == "edge.oauth" && descends(&index, s, &edge.span_id))?;
        ours.iter().find(|s| {
            s.service == "tessera"
                && s.name == "tessera.v1.AuthService/Introspect"
                && descends(&index, s, &oauth.span_id)
        })?;
        Some(())
    };
    let spans = receiver
        .wait_for(Duration::from_secs(60), |spans| traced(spans).is_some())
        .await;
    assert!(
        traced(&spans).is_some(),
        "no complete OAuth trace; spans: {:?}",
        spans
            .iter()
            .map(|s| format!("{} {} {}", s.service, s.name, s.trace_id))
            .collect::<Vec<_>>()
    );
    let exported = receiver.exported_bytes();
    for (what, secret) in [
        ("the introspected token", token.as_str()),
        ("the client secret", dev.ready.service_token.as_str()),
        ("the Basic credentials", basic.as_str()),
    ] {
        assert!(
            !contains_bytes(&exported, secret.as_bytes()),
            "{what} was exported in a span"
        );
    }
    drop(edge);
    dev.stop()?;
    Ok(())
}
