//! End-to-end: the real `tessera dev` binary, its embedded PostgreSQL, real gRPC and grpcurl.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod client_traces;
mod cluster;
mod dev_instance;
mod drain;
mod everywhere;
mod latency;
mod layers;
mod mtls_clients;
mod pg_tls;
mod pgbouncer;
mod readme;
mod reasons;
mod tls;
mod traces;

use std::{process::Command, time::Duration};

use tessera_harness::{authed, grpcurl, DevServer};
use tessera_proto::v1 as pb;

/// The README's walkthrough: login → issue a namespaced token → introspect → check namespace →
/// revoke → introspect again shows active: false.
#[tokio::test]
async fn readme_walkthrough_over_grpc() -> anyhow::Result<()> {
    let accounts = r#"[{"username":"root","password":"root-password-1","role":"root","display_name":"Root Admin"},
                       {"username":"alice","password":"alice-password-1","role":"user"}]"#;
    let mut dev = DevServer::start(&[("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", accounts)])?;
    let mut client = dev.client().await?;

    let login = client
        .login(pb::LoginRequest {
            username: "alice".into(),
            password: "alice-password-1".into(),
            totp_code: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(login.user.as_ref().unwrap().display_name, "");
    let issued = client
        .issue_token(authed(
            pb::IssueTokenRequest {
                ttl: "15m".into(),
                namespace: "deploy.".into(),
                ..Default::default()
            },
            &login.token,
        ))
        .await?
        .into_inner();
    let service = &dev.ready.service_token;
    let seen = client
        .introspect(authed(
            pb::IntrospectRequest {
                token: issued.token.clone(),
                peek: false,
            },
            service,
        ))
        .await?
        .into_inner();
    assert!(seen.active);
    assert_eq!(seen.username, "alice");
    assert_eq!(seen.namespace, "deploy.");
    let verdict = client
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: issued.token.clone(),
                identifiers: vec!["deploy.daily".into(), "backup.nightly".into()],
                action: String::new(),
            },
            service,
        ))
        .await?
        .into_inner();
    assert_eq!(
        verdict
            .results
            .iter()
            .map(|r| r.allowed)
            .collect::<Vec<_>>(),
        vec![true, false]
    );
    let revoked = client
        .revoke(authed(
            pb::RevokeRequest {
                target: Some(pb::revoke_request::Target::TokenId(issued.token_id.clone())),
                reason: "walkthrough".into(),
                ..Default::default()
            },
            &login.token,
        ))
        .await?
        .into_inner();
    assert_eq!(revoked.revoked_count, 1);
    let after = client
        .introspect(authed(
            pb::IntrospectRequest {
                token: issued.token.clone(),
                peek: false,
            },
            service,
        ))
        .await?
        .into_inner();
    assert!(!after.active);

    // The bootstrapped root account works too, and the service token may not issue.
    client
        .login(pb::LoginRequest {
            username: "root".into(),
            password: "root-password-1".into(),
            totp_code: String::new(),
        })
        .await?;
    let refused = client
        .issue_token(authed(pb::IssueTokenRequest::default(), service))
        .await
        .expect_err("service token must not issue");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    // The banner never prints the bootstrap passwords.
    let log = dev.log();
    assert!(
        !log.contains("alice-password-1") && !log.contains("root-password-1"),
        "{log}"
    );
    let status = dev.stop()?;
    assert!(status.success(), "tessera dev exited with {status}");
    Ok(())
}

#[tokio::test]
async fn grpcurl_lists_services_through_reflection_and_calls_introspect() -> anyhow::Result<()> {
    let dev = DevServer::start(&[])?;
    let grpcurl = grpcurl()?;
    let out = Command::new(&grpcurl)
        .args(["-plaintext", &dev.ready.grpc_addr, "list"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout)?;
    for service in [
        "tessera.v1.AuthService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            listed.lines().any(|l| l.trim() == service),
            "{service} missing from:\n{listed}"
        );
    }
    let body = format!(r#"{{"token": "{}"}}"#, dev.ready.admin_token);
    let out = Command::new(&grpcurl)
        .args([
            "-plaintext",
            "-H",
            &format!("authorization: Bearer {}", dev.ready.service_token),
            "-d",
            &body,
        ])
        .arg(&dev.ready.grpc_addr)
        .arg("tessera.v1.AuthService/Introspect")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["tokenType"], "TOKEN_TYPE_SESSION");

    // A failure shows its reason to a person with grpcurl too.
    let out = Command::new(&grpcurl)
        .args(["-plaintext", "-d", "{}"])
        .arg(&dev.ready.grpc_addr)
        .arg("tessera.v1.AuthService/Introspect")
        .output()?;
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Unauthenticated"), "{text}");
    Ok(())
}

#[tokio::test]
async fn bad_bootstrap_json_stops_start_up_naming_the_entry() -> anyhow::Result<()> {
    let accounts = r#"[{"username":"ok","password":"long-enough-1","role":"user"},{"username":"bad","password":"long-enough-2","role":"emperor"}]"#;
    let err = DevServer::start(&[("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", accounts)])
        .err()
        .expect("start-up must fail")
        .to_string();
    assert!(
        err.contains("entry 1") && err.contains("bad") && err.contains("emperor"),
        "{err}"
    );
    assert!(!err.contains("long-enough"), "{err}");
    Ok(())
}

/// Reads a `listen_addr` from an edge's ready file once it exists.
fn edge_addr(dev: &DevServer, name: &str) -> anyhow::Result<String> {
    let file = dev
        .data_dir
        .path()
        .join("data/edges")
        .join(format!("{name}.ready.json"));
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let value: serde_json::Value = serde_json::from_str(&text)?;
            return Ok(value["listen_addr"].as_str().unwrap_or_default().to_owned());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    anyhow::bail!("{name} never became ready; tessera log:\n{}", dev.log())
}

/// One HTTP/1.1 request over a plain socket; returns the status code and the body.
fn http_get(addr: &str, path: &str, bearer: Option<&str>) -> anyhow::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let status = reply.split_whitespace().nth(1).unwrap_or("0").parse()?;
    Ok((status, reply))
}

/// `tessera dev --edges`: both shims start beside the server, with their demo upstreams, and
/// enforce tokens from this server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_with_edges_serves_the_http_and_line_edges() -> anyhow::Result<()> {
    let dev = DevServer::start(&[
        ("TESSERA_DEV_EDGES", "true"),
        ("TESSERA_DEV_HTTP_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_DEMO", "127.0.0.1:0"),
    ])?;
    let http = edge_addr(&dev, "http-edge")?;
    let line = edge_addr(&dev, "line-edge")?;

    assert_eq!(http_get(&http, "/api/v1/public/ping", None)?.0, 200);
    assert_eq!(http_get(&http, "/", None)?.0, 401);
    let (status, body) = http_get(&http, "/", Some(&dev.ready.admin_token))?;
    assert_eq!(status, 200);
    assert!(
        body.contains(&dev.ready.admin_username),
        "identity reaches the demo app"
    );

    let mut client = dev.client().await?;
    let token = client
        .issue_token(authed(
            pb::IssueTokenRequest {
                namespace: "deploy.".into(),
                ..Default::default()
            },
            &dev.ready.admin_token,
        ))
        .await?
        .into_inner()
        .token;
    let reply = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(&line)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        write!(
            stream,
            "AUTH {token}\n1 SET deploy.daily 0 * * * *\n2 GET backup.x\n"
        )?;
        let mut reader = BufReader::new(stream);
        let mut lines = Vec::new();
        for _ in 0..3 {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            lines.push(line.trim_end().to_owned());
        }
        Ok(lines.join("\n"))
    })
    .await??;
    assert_eq!(
        reply,
        "OK\n1 OK\n2 ERROR auth_denied insufficient namespace scope"
    );
    Ok(())
}

/// The README's failing call: a wrong password, and grpcurl prints the reason from the error
/// details (reflection serves google.rpc.ErrorInfo), not a base64 blob.
#[tokio::test]
async fn grpcurl_shows_the_reason_of_a_failed_login() -> anyhow::Result<()> {
    let dev = DevServer::start(&[])?;
    let out = Command::new(grpcurl()?)
        .args([
            "-plaintext",
            "-d",
            r#"{"username":"admin","password":"wrong-password"}"#,
        ])
        .arg(&dev.ready.grpc_addr)
        .arg("tessera.v1.AuthService/Login")
        .output()?;
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INVALID_CREDENTIALS"), "{text}");
    assert!(text.contains("google.rpc.ErrorInfo"), "{text}");
    Ok(())
}

/// Logs written to a file carry no ANSI colour codes.
#[tokio::test]
async fn logs_to_a_file_are_plain_text() -> anyhow::Result<()> {
    let dev = DevServer::start(&[])?;
    // The ready file comes before this line: wait for the line, not the file.
    let log = dev.wait_for_log("tessera serving gRPC", Duration::from_secs(30))?;
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log:?}"
    );
    Ok(())
}
