//! TLS on the gRPC port with the real binary: a private CA, grpcurl with `-cacert`, plaintext
//! refused, certificate rotation without a restart, and mutual TLS refusing a client without a
//! certificate.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use tessera_harness::{authed, grpcurl, pki::Pki, DevServer};
use tessera_proto::v1 as pb;
use tessera_proto::v1::{
    admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

async fn client_channel(addr: &str, pki: &Pki) -> anyhow::Result<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost")
        .identity(Identity::from_pem(&pki.client_cert, &pki.client_key));
    Ok(Channel::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect()
        .await?)
}

async fn tls_client(
    addr: &str,
    ca: &str,
    identity: Option<(&str, &str)>,
) -> anyhow::Result<AuthServiceClient<Channel>> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await?;
    Ok(AuthServiceClient::new(channel))
}

async fn introspect_ok(
    client: &mut AuthServiceClient<Channel>,
    dev: &DevServer,
) -> anyhow::Result<bool> {
    let answer = client
        .introspect(authed(
            pb::IntrospectRequest {
                token: dev.ready.admin_token.clone(),
                peek: true,
            },
            &dev.ready.service_token,
        ))
        .await?;
    Ok(answer.into_inner().active)
}

fn tls_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "TESSERA_TLS_CERT".into(),
            dir.join("tls.crt").display().to_string(),
        ),
        (
            "TESSERA_TLS_KEY".into(),
            dir.join("tls.key").display().to_string(),
        ),
        ("TESSERA_TLS_WATCH_INTERVAL".into(), "1s".into()),
    ]
}

fn start(env: &[(String, String)]) -> anyhow::Result<DevServer> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    DevServer::start(&env)
}

#[tokio::test]
async fn grpc_over_tls_with_a_private_ca_and_rotation_without_restart() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    let first = Pki::new("first");
    first.write_server_files(certs.path())?;
    let mut dev = start(&tls_env(certs.path()))?;
    let addr = dev.ready.grpc_addr.clone();

    let mut client = tls_client(&addr, &first.ca, None).await?;
    assert!(introspect_ok(&mut client, &dev).await?);

    // Plaintext is not served on a TLS port.
    let plaintext = async {
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let mut client = AuthServiceClient::new(channel);
        introspect_ok(&mut client, &dev).await
    };
    assert!(plaintext.await.is_err(), "a plaintext call got an answer");

    // grpcurl, as the README shows it.
    let ca_file = certs.path().join("ca.pem");
    let listed = Command::new(grpcurl()?)
        .arg("-cacert")
        .arg(&ca_file)
        .args([addr.as_str(), "list"])
        .output()?;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success() && stdout.contains("tessera.v1.AuthService"),
        "grpcurl -cacert list: {stdout}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let refused = Command::new(grpcurl()?)
        .args(["-plaintext", addr.as_str(), "list"])
        .output()?;
    assert!(!refused.status.success(), "grpcurl -plaintext was answered");

    // The binary's own probe (container health checks): TLS with the CA, refused without it.
    let probe = |ca: Option<&Path>| -> anyhow::Result<std::process::Output> {
        let mut command = Command::new(tessera_harness::binary("tessera")?);
        command.args(["health", "--server", &format!("https://{addr}")]);
        command.args(["--tls-server-name", "localhost"]);
        if let Some(ca) = ca {
            command.arg("--ca").arg(ca);
        }
        Ok(command.output()?)
    };
    let healthy = probe(Some(&ca_file))?;
    assert!(
        healthy.status.success() && String::from_utf8_lossy(&healthy.stdout).contains("SERVING"),
        "tessera health --ca: {}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    assert!(
        !probe(None)?.status.success(),
        "a certificate from an unknown CA was trusted"
    );

    // Rotate to a certificate from another CA: new connections get it without a restart.
    let second = Pki::new("second");
    second.write_server_files(certs.path())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut rotated) = tls_client(&addr, &second.ca, None).await {
            if introspect_ok(&mut rotated, &dev).await.is_ok() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was never served:\n{}",
            dev.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        tls_client(&addr, &first.ca, None).await.is_err(),
        "new connections still get the old certificate"
    );
    dev.wait_for_log("tls certificate reloaded", Duration::from_secs(30))?;
    dev.stop()?;
    Ok(())
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    let pki = Pki::new("mtls");
    pki.write_server_files(certs.path())?;
    let mut env = tls_env(certs.path());
    env.push((
        "TESSERA_CLIENT_CA".into(),
        certs.path().join("ca.pem").display().to_string(),
    ));
    let mut dev = start(&env)?;
    let addr = dev.ready.grpc_addr.clone();

    let anonymous = async {
        let mut client = tls_client(&addr, &pki.ca, None).await?;
        introspect_ok(&mut client, &dev).await
    };
    assert!(
        anonymous.await.is_err(),
        "a client without a certificate got an answer"
    );

    // A certificate from a CA the server does not trust is refused too.
    let stranger = Pki::new("stranger");
    let foreign = async {
        let mut client = tls_client(
            &addr,
            &pki.ca,
            Some((&stranger.client_cert, &stranger.client_key)),
        )
        .await?;
        introspect_ok(&mut client, &dev).await
    };
    assert!(
        foreign.await.is_err(),
        "a foreign client certificate got an answer"
    );

    let mut client = tls_client(&addr, &pki.ca, Some((&pki.client_cert, &pki.client_key))).await?;
    assert!(introspect_ok(&mut client, &dev).await?);

    // The audit trail names the client certificate a call came with.
    let refused = client
        .login(pb::LoginRequest {
            username: "admin".into(),
            password: "not-the-password".into(),
            totp_code: String::new(),
        })
        .await;
    assert!(refused.is_err());
    let mut admin = AdminServiceClient::new(client_channel(&addr, &pki).await?);
    let events = admin
        .list_audit_events(authed(
            pb::ListAuditEventsRequest {
                action: "login".into(),
                ..Default::default()
            },
            &dev.ready.admin_token,
        ))
        .await?
        .into_inner()
        .events;
    assert!(
        events
            .iter()
            .any(|e| e.outcome == "failure" && e.detail_json.contains("CN=billing-service")),
        "no failed login recorded with the client certificate: {events:?}"
    );
    dev.stop()?;
    Ok(())
}
