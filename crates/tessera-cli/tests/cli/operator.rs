//! The operator surface, driven as an operator would: the real `tessera` binary against a real
//! server and PostgreSQL — accounts, TOTP enrollment, tokens, audit, the master token, the static
//! tokens file with SIGHUP reloads, and the expiry sweeper.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Output, Stdio},
    time::Duration,
};

use crate::common::*;
use serde_json::Value;
use tessera_core::totp::TotpSecret;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tonic::Code;

/// Runs the CLI against `server` with `token`, feeding `stdin`.
fn cli(server: &TestServer, token: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(tessera_bin());
    command
        .args(["--server", &format!("http://{}", server.addr)])
        .args(args)
        .env_remove("TESSERA_TOKEN")
        .env_remove("TESSERA_TOKEN_FILE")
        .env_remove("TESSERA_DATABASE_URL");
    if let Some(token) = token {
        command.env("TESSERA_TOKEN", token);
    }
    run_with_stdin(&mut command, stdin)
}

#[track_caller]
fn ok_json(output: Output) -> Value {
    assert!(
        output.status.success(),
        "tessera failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("--json output parses")
}

#[track_caller]
fn failed(output: Output, reason: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "expected a failure, got {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(stderr.contains(reason), "stderr lacks {reason}: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_manages_accounts_totp_tokens_and_audit() {
    let server = TestServer::start().await;
    let (_, admin) = server.session(Role::Admin).await;

    let created = ok_json(cli(
        &server,
        Some(&admin),
        &[
            "--json",
            "user",
            "add",
            "--username",
            "carol",
            "--password-stdin",
        ],
        "carol-password-1\n",
    ));
    assert_eq!(created["username"], "carol");
    assert_eq!(created["role"], "user");
    failed(
        cli(
            &server,
            Some(&admin),
            &["user", "add", "--username", "carol", "--password-stdin"],
            "carol-password-1\n",
        ),
        "USER_EXISTS",
    );
    failed(
        cli(
            &server,
            Some(&admin),
            &["user", "add", "--username", "dave", "--password-stdin"],
            "short\n",
        ),
        "INVALID_ARGUMENT",
    );

    let listed = ok_json(cli(&server, Some(&admin), &["--json", "user", "list"], ""));
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["username"] == "carol" && u["disabled"] == false));
    let table = cli(&server, Some(&admin), &["user", "list"], "");
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("USERNAME"));

    // TOTP enrollment: read the secret from the URI the CLI prints, answer with a computed code.
    let mut child = Command::new(tessera_bin())
        .args([
            "--server",
            &format!("http://{}", server.addr),
            "totp",
            "enroll",
            "carol",
        ])
        .env("TESSERA_TOKEN", &admin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut secret = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(at) = line.find("secret=") {
            let rest = &line[at + 7..];
            secret = TotpSecret::from_base32(&rest[..rest.find('&').unwrap()]);
            break;
        }
        line.clear();
    }
    let secret = secret.expect("the otpauth URI was printed");
    let step = TotpSecret::step_of(tessera_core::clock::Clock::now(&server.clock));
    writeln!(child.stdin.take().unwrap(), "{}", secret.code_at(step)).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "enroll: {}",
        String::from_utf8_lossy(&output.stdout)
    );

    // Carol now needs the code; the confirming code itself cannot be replayed.
    let login = |code: String| {
        let mut client = server.client();
        async move {
            client
                .login(pb::LoginRequest {
                    username: "carol".into(),
                    password: "carol-password-1".into(),
                    totp_code: code,
                })
                .await
        }
    };
    assert_reason(
        login(String::new()).await,
        Code::FailedPrecondition,
        "MFA_REQUIRED",
    );
    assert_reason(
        login(secret.code_at(step)).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let carol = login(secret.code_at(step + 1))
        .await
        .expect("login with TOTP")
        .into_inner()
        .token;

    // Tokens: issue, list, show, revoke — as carol herself.
    let issued = ok_json(cli(
        &server,
        Some(&carol),
        &[
            "--json",
            "token",
            "issue",
            "--ttl",
            "15m",
            "--namespace",
            "deploy.",
            "--single-use",
            "--description",
            "nightly",
        ],
        "",
    ));
    let token = issued["token"].as_str().unwrap().to_owned();
    let token_id = issued["token_id"].as_str().unwrap().to_owned();
    assert_eq!(issued["namespace"], "deploy.");
    assert_eq!(issued["max_uses"], 1);
    let mine = ok_json(cli(&server, Some(&carol), &["--json", "token", "list"], ""));
    let row = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_id"] == token_id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(row["description"], "nightly");
    assert!(
        row.get("token").is_none() && !row.to_string().contains(&token),
        "listings never show a secret"
    );
    let shown = ok_json(cli(
        &server,
        Some(&carol),
        &["--json", "token", "show", &token_id],
        "",
    ));
    assert_eq!(shown["uses_remaining"], 1);
    let revoked = ok_json(cli(
        &server,
        Some(&carol),
        &["--json", "token", "revoke", &token_id, "--reason", "test"],
        "",
    ));
    assert_eq!(revoked["revoked_count"], 1);
    let (_, service) = server.session(Role::Admin).await;
    assert!(!server.peek(&service, &token).await.active);

    // A plain user cannot administer; the CLI names the reason and a hint.
    let stderr = failed(
        cli(&server, Some(&carol), &["user", "list"], ""),
        "ELEVATION_REQUIRED",
    );
    assert!(stderr.contains("hint:"));
    failed(
        cli(&server, Some(&admin), &["user", "role", "carol", "god"], ""),
        "INVALID_ARGUMENT",
    );
    failed(cli(&server, None, &["token", "list"], ""), "AUTH_REQUIRED");

    // Role change and disable revoke the account's tokens at once.
    ok_json(cli(
        &server,
        Some(&admin),
        &["--json", "user", "role", "carol", "admin"],
        "",
    ));
    assert_reason(
        server.issue(&carol, pb::IssueTokenRequest::default()).await,
        Code::Unauthenticated,
        "AUTH_FAILED",
    );
    let disabled = ok_json(cli(
        &server,
        Some(&admin),
        &["--json", "user", "disable", "carol"],
        "",
    ));
    assert_eq!(disabled["disabled"], true);
    assert_reason(
        login(secret.code_at(step + 2)).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );

    let events = ok_json(cli(
        &server,
        Some(&admin),
        &["--json", "audit", "tail", "-n", "100"],
        "",
    ));
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "user.create",
        "totp.enroll",
        "issue",
        "revoke",
        "user.role",
        "user.disable",
    ] {
        assert!(
            actions.contains(&action),
            "audit lacks {action}: {actions:?}"
        );
    }
    let logins = ok_json(cli(
        &server,
        Some(&admin),
        &["--json", "audit", "tail", "--action", "login"],
        "",
    ));
    assert!(logins
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"] == "login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_check_reads_the_grammar_offline() {
    let good = tessera_rules::token::TokenSecret::generate(tessera_rules::token::TokenKind::Api);
    let run = |arg: &str| {
        Command::new(tessera_bin())
            .args(["token", "check", arg])
            .output()
            .unwrap()
    };
    let ok = run(good.expose());
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("well-formed Tessera api token"));
    let mut typo = good.expose().to_owned();
    typo.replace_range(20..21, if &typo[20..21] == "a" { "b" } else { "a" });
    let bad = run(&typo);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("checksum"));
    assert!(!run("hello").status.success());
}

fn db_cli(database_url: &str, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(tessera_bin());
    command
        .args(args)
        .env("TESSERA_DATABASE_URL", database_url)
        .env_remove("TESSERA_TOKEN");
    run_with_stdin(&mut command, stdin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_master_token_resets_at_once_and_custom_ones_are_checked() {
    let server = TestServer::start().await;
    let url = server.database_url.clone().unwrap();
    let what = ok_json(db_cli(&url, &["--json", "token", "what"], ""));
    assert!(what["master"].is_null());

    let first = ok_json(db_cli(&url, &["--json", "token", "reset"], ""));
    let first = first["token"].as_str().unwrap().to_owned();
    assert!(first.starts_with("tsr_mst_"));
    ok_json(cli(&server, Some(&first), &["--json", "user", "list"], ""));
    let what = db_cli(&url, &["token", "what"], "");
    let text = String::from_utf8_lossy(&what.stdout);
    assert!(
        text.contains(&first[..12]) && !text.contains(&first[13..]),
        "what shows the prefix only: {text}"
    );

    let second = ok_json(db_cli(&url, &["--json", "token", "reset"], ""))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    failed(
        cli(&server, Some(&first), &["user", "list"], ""),
        "AUTH_FAILED",
    );
    ok_json(cli(&server, Some(&second), &["--json", "user", "list"], ""));

    let short = db_cli(&url, &["token", "set"], "tsr_mst_short\n");
    assert!(
        !short.status.success() && String::from_utf8_lossy(&short.stderr).contains("at least 32")
    );
    let unprefixed = db_cli(
        &url,
        &["token", "set"],
        "this-is-long-enough-but-has-no-prefix-at-all\n",
    );
    assert!(
        !unprefixed.status.success()
            && String::from_utf8_lossy(&unprefixed.stderr).contains("tsr_mst_")
    );
    ok_json(cli(&server, Some(&second), &["--json", "user", "list"], ""));

    let custom = "tsr_mst_our-own-long-master-secret-2026";
    let set = db_cli(&url, &["token", "set"], &format!("{custom}\n"));
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    failed(
        cli(&server, Some(&second), &["user", "list"], ""),
        "AUTH_FAILED",
    );
    ok_json(cli(&server, Some(custom), &["--json", "user", "list"], ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweeper_removes_expired_tokens_and_keeps_live_ones() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::User).await;
    let short = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                ttl: "1m".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let long = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                ttl: "2h".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    server.clock.advance(time::Duration::minutes(2));
    let swept = tessera_server::sweeper::sweep_once(&server.authority)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    let count = |id: String| {
        let pool = server.pool.clone();
        async move { sqlx_count(&pool, &id).await }
    };
    assert_eq!(count(short.token_id).await, 0);
    assert_eq!(count(long.token_id).await, 1);
    assert!(server.peek(&session, &long.token).await.active);
}

async fn sqlx_count(pool: &tessera_store::PgPool, id: &str) -> i64 {
    let id = uuid::Uuid::parse_str(id).unwrap();
    tessera_store::tokens::info(pool, id)
        .await
        .unwrap()
        .map_or(0, |_| 1)
}

fn serve(database_url: &str, tokens_file: &Path, port: u16) -> std::process::Child {
    Command::new(tessera_bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tokens-file",
        ])
        .arg(tokens_file)
        .env("TESSERA_DATABASE_URL", database_url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn static_tokens_load_refuse_bad_files_and_reload_on_sighup() {
    let server = TestServer::start().await;
    let url = server.database_url.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth.toml");

    for (text, expected) in [
        ("[token.a]\nsecret = \"0123456789abcdef-one\"\nnamespace = \"a.\"\n[token.b]\nsecret = \"0123456789abcdef-one\"\nnamespace = \"b.\"\n", "same secret as token \"a\""),
        ("[token.a]\nsecret = \"0123456789abcdef-one\"\nnamespace = \"\"\n", "namespace is empty"),
        ("[token.a]\nnamespace = \"a.\"\n", "missing field `secret`"),
        ("[token.a\n", "line 1"),
    ] {
        std::fs::write(&file, text).unwrap();
        let output = serve(&url, &file, closed_port()).wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "start-up must fail for {text:?}");
        assert!(stderr.contains(expected) && stderr.contains("auth.toml"), "{expected:?} not in {stderr}");
        assert!(!stderr.contains("0123456789abcdef-one"), "a secret leaked: {stderr}");
    }

    std::fs::write(
        &file,
        "[token.alpha]\nsecret = \"alpha-secret-0123456789\"\nnamespace = \"jobs.\"\n",
    )
    .unwrap();
    let port = closed_port();
    let mut child = serve(&url, &file, port);
    let master = ok_json(db_cli(&url, &["--json", "token", "reset"], ""))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let channel = connect(port).await;
    let client = pb::auth_service_client::AuthServiceClient::new(channel);
    let check = |token: &'static str| {
        let mut client = client.clone();
        let master = master.clone();
        async move {
            client
                .check_namespace(authed(
                    pb::CheckNamespaceRequest {
                        token: token.into(),
                        identifiers: vec!["jobs.x".into()],
                        action: String::new(),
                    },
                    &master,
                ))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let verdict = check("alpha-secret-0123456789").await;
    assert!(verdict.active && verdict.allowed);

    // Good file: beta in, alpha out, at once.
    std::fs::write(
        &file,
        "[token.beta]\nsecret = \"beta-secret-0123456789\"\nnamespace = \"jobs.\"\n",
    )
    .unwrap();
    hangup(&child);
    wait_for(|| async move { check("beta-secret-0123456789").await.active }).await;
    assert!(!check("alpha-secret-0123456789").await.active);

    // Bad file: the set in force stays.
    std::fs::write(&file, "[token.gamma]\nsecret = \"x\"\n").unwrap();
    hangup(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(check("beta-secret-0123456789").await.active);
    stop(&mut child);
}

async fn connect(port: u16) -> tonic::transport::Channel {
    for _ in 0..100 {
        if let Ok(channel) =
            tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
                .unwrap()
                .connect()
                .await
        {
            return channel;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("tessera serve never listened on {port}");
}

fn hangup(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn stop(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn wait_for<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..50 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("condition never held within 5 s");
}
