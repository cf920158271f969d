//! Every client of a server that requires client certificates presents one (the CLI's
//! `--cert`/`--key`, remembered with its session; both edges' `--tessera-cert`/`--tessera-key`),
//! and a connection that fails says what happened and what to do, once: a missing client
//! certificate, a CA this machine does not trust, TLS dialled in plaintext and the reverse.

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use tessera_harness::{binary, pki::Pki, run_with_stdin, DevServer};

/// A `tessera dev` that serves TLS from `pki` and, with `mutual`, requires client certificates
/// its CA signed.
fn tls_dev(dir: &Path, pki: &Pki, mutual: bool) -> anyhow::Result<DevServer> {
    pki.write_server_files(dir)?;
    std::fs::write(dir.join("client.crt"), &pki.client_cert)?;
    std::fs::write(dir.join("client.key"), &pki.client_key)?;
    let cert = dir.join("tls.crt").display().to_string();
    let key = dir.join("tls.key").display().to_string();
    let ca = dir.join("ca.pem").display().to_string();
    let mut env = vec![
        ("TESSERA_TLS_CERT", cert.as_str()),
        ("TESSERA_TLS_KEY", key.as_str()),
    ];
    if mutual {
        env.push(("TESSERA_CLIENT_CA", ca.as_str()));
    }
    DevServer::start(&env)
}

fn port(dev: &DevServer) -> &str {
    dev.ready.grpc_addr.rsplit_once(':').unwrap().1
}

fn tessera(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(binary("tessera")?)
        .args(args)
        .env_remove("TESSERA_CA")
        .env_remove("TESSERA_CERT")
        .env_remove("TESSERA_KEY")
        .stdin(Stdio::null())
        .output()?)
}

/// The command failed, and its error says `what` and `advice`, each once, in two lines at most.
fn refused(output: &Output, what: &str, advice: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert_eq!(
        stderr.matches(what).count(),
        1,
        "{what:?} once in:\n{stderr}"
    );
    assert_eq!(
        stderr.matches(advice).count(),
        1,
        "{advice:?} once in:\n{stderr}"
    );
    assert!(stderr.lines().count() <= 2, "repeats itself:\n{stderr}");
    assert!(
        !stderr.contains("transport error"),
        "raw transport text:\n{stderr}"
    );
}

#[tokio::test]
async fn the_cli_presents_its_certificate_and_says_what_a_refused_connection_needs(
) -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    let dir = certs.path();
    let pki = Pki::new("cli-mtls");
    let dev = tls_dev(dir, &pki, true)?;
    let plain = DevServer::start(&[])?;
    let server = format!("https://localhost:{}", port(&dev));
    let ca = dir.join("ca.pem").display().to_string();
    let cert = dir.join("client.crt").display().to_string();
    let key = dir.join("client.key").display().to_string();

    // The probe with the client certificate is answered; without, it says what is missing.
    let serving = tessera(&[
        "health", "--server", &server, "--ca", &ca, "--cert", &cert, "--key", &key,
    ])?;
    assert!(
        serving.status.success(),
        "{}",
        String::from_utf8_lossy(&serving.stderr)
    );
    refused(
        &tessera(&["health", "--server", &server, "--ca", &ca])?,
        "the server requires a client certificate",
        "pass --cert and --key",
    );
    refused(
        &tessera(&[
            "user", "list", "--server", &server, "--ca", &ca, "--token", "tsr_x",
        ])?,
        "the server requires a client certificate",
        "pass --cert and --key",
    );
    refused(
        &tessera(&[
            "health", "--server", &server, "--cert", &cert, "--key", &key,
        ])?,
        "not signed by a CA this machine trusts",
        "pass --ca",
    );
    refused(
        &tessera(&[
            "health",
            "--server",
            &format!("http://localhost:{}", port(&dev)),
        ])?,
        "the server speaks TLS",
        "use https://",
    );
    refused(
        &tessera(&[
            "health",
            "--server",
            &format!("https://localhost:{}", port(&plain)),
        ])?,
        "the server speaks plaintext",
        "use http://",
    );
    // Half a pair, or a key file that holds a certificate, is refused before connecting.
    let half = tessera(&["health", "--server", &server, "--cert", &cert])?;
    assert!(String::from_utf8_lossy(&half.stderr).contains("--key"));
    let wrong = tessera(&[
        "health", "--server", &server, "--ca", &ca, "--cert", &cert, "--key", &cert,
    ])?;
    assert!(String::from_utf8_lossy(&wrong.stderr).starts_with("tessera: --key:"));

    // `login` remembers the CA and the client certificate with the session: later commands
    // against the same server need neither.
    let credentials = dir.join("credentials.json").display().to_string();
    let login = run_with_stdin(
        Command::new(binary("tessera")?).args([
            "login",
            "--server",
            &server,
            "--ca",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "--username",
            &dev.ready.admin_username,
            "--password-stdin",
            "--credentials-file",
            &credentials,
        ]),
        &format!("{}\n", dev.ready.admin_password),
    );
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let listed = tessera(&[
        "token",
        "list",
        "--server",
        &server,
        "--credentials-file",
        &credentials,
    ])?;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let stored = std::fs::read_to_string(&credentials)?;
    assert!(
        stored.contains("client.crt") && !stored.contains("PRIVATE KEY"),
        "{stored}"
    );
    Ok(())
}

/// Starts an edge with `args`; its ready file, or its output once it exits (within 60 s).
fn edge(name: &str, args: &[&str], ready: &Path) -> anyhow::Result<Result<Child, String>> {
    let mut child = Command::new(binary(name)?)
        .args(args)
        .arg("--ready-file")
        .arg(ready)
        .env_remove("TESSERA_CA")
        .env_remove("TESSERA_CERT")
        .env_remove("TESSERA_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ready.exists() {
            return Ok(Ok(child));
        }
        if child.try_wait()?.is_some() {
            let output = child.wait_with_output()?;
            return Ok(Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    anyhow::bail!("{name} neither became ready nor exited in 60 s")
}

#[tokio::test]
async fn both_edges_present_a_client_certificate_under_mutual_tls() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    let dir = certs.path();
    let pki = Pki::new("edges-mtls");
    let dev = tls_dev(dir, &pki, true)?;
    let tessera = format!("https://localhost:{}", port(&dev));
    let ca = dir.join("ca.pem").display().to_string();
    let cert = dir.join("client.crt").display().to_string();
    let key = dir.join("client.key").display().to_string();
    let common = |cert_args: bool| {
        let mut args = vec![
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--tessera".to_owned(),
            tessera.clone(),
            "--tessera-ca".to_owned(),
            ca.clone(),
            "--service-token".to_owned(),
            dev.ready.service_token.clone(),
        ];
        if cert_args {
            args.extend([
                "--tessera-cert".to_owned(),
                cert.clone(),
                "--tessera-key".to_owned(),
                key.clone(),
            ]);
        }
        args
    };
    let scheduler = tessera_harness::closed_port().to_string();
    let mut demo = Command::new(binary("tessera-line-demo")?)
        .args(["--listen", &format!("127.0.0.1:{scheduler}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // The HTTP edge retries an unreachable Tessera for --startup-timeout; the line edge asks once.
    for (name, extra, patience) in [
        (
            "tessera-edge-http",
            vec!["--insecure-dev-http".to_owned()],
            vec!["--startup-timeout".to_owned(), "1s".to_owned()],
        ),
        (
            "tessera-edge-line",
            vec!["--upstream".to_owned(), format!("127.0.0.1:{scheduler}")],
            vec![],
        ),
    ] {
        // With its certificate, the edge vets its token and serves.
        let mut args = common(true);
        args.extend(extra.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ready = dir.join(format!("{name}.ready"));
        match edge(name, &args, &ready)? {
            Ok(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Err(output) => panic!("{name} with --tessera-cert did not start:\n{output}"),
        }
        // Without, it refuses to start and says what it needs, naming its own flags.
        let mut args = common(false);
        args.extend(extra.iter().cloned());
        args.extend(patience);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ready = dir.join(format!("{name}.refused.ready"));
        match edge(name, &args, &ready)? {
            Ok(mut child) => {
                let _ = child.kill();
                panic!("{name} started without the client certificate the server requires");
            }
            Err(output) => assert!(
                output.contains("the server requires a client certificate")
                    && output.contains("--tessera-cert and --tessera-key"),
                "{name}: {output}"
            ),
        }
    }
    let _ = demo.kill();
    let _ = demo.wait();
    Ok(())
}
