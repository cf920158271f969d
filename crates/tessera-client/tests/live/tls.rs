//! `https://` to a `tessera dev` serving TLS with a private CA (rcgen): trusted with the CA,
//! refused without it, and never downgraded to plaintext.

use std::time::Duration;

use tessera_client::{Client, Reason, RetryPolicy, Secret};
use tessera_harness::{pki::Pki, DevServer};

/// A `tessera dev` serving gRPC over TLS, and the CA file that trusts it.
pub fn tls_dev() -> (DevServer, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    Pki::new("tessera-client")
        .write_server_files(certs.path())
        .unwrap();
    let cert_path = certs.path().join("tls.crt").display().to_string();
    let key_path = certs.path().join("tls.key").display().to_string();
    let dev = DevServer::start(&[
        ("TESSERA_TLS_CERT", cert_path.as_str()),
        ("TESSERA_TLS_KEY", key_path.as_str()),
    ])
    .expect("tessera dev with TLS starts");
    (dev, certs)
}

#[tokio::test]
async fn https_with_a_private_ca() -> anyhow::Result<()> {
    let (dev, certs) = tls_dev();
    let port = dev.ready.grpc_addr.rsplit_once(':').unwrap().1.to_owned();
    let service = Client::builder()
        .address(format!("https://localhost:{port}"))
        .ca_file(certs.path().join("ca.pem"))
        .token(Secret::new(dev.ready.service_token.clone()))
        .connect()
        .await?;
    assert!(service.peek(&dev.ready.admin_token).await?.active);

    // The system roots do not know the private CA: refused, never answered.
    let untrusted = Client::builder()
        .address(format!("https://localhost:{port}"))
        .token(Secret::new(dev.ready.service_token.clone()))
        .retry(RetryPolicy::never())
        .build()?;
    let refused = untrusted.peek(&dev.ready.admin_token).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::Unavailable, "{refused:?}");

    // Plaintext to a TLS port gets no answer either.
    let plaintext = Client::builder()
        .address(format!("http://127.0.0.1:{port}"))
        .token(Secret::new(dev.ready.service_token.clone()))
        .retry(RetryPolicy::never())
        .deadline(Duration::from_secs(5))
        .build()?;
    assert!(plaintext.peek(&dev.ready.admin_token).await.is_err());
    Ok(())
}
