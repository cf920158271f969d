//! `tessera health`: asks a server's gRPC health service whether it is SERVING and exits 0 or 1,
//! for container health checks and Kubernetes exec probes (whose native gRPC probe cannot speak
//! TLS). Plaintext for `http://` and bare `host:port`, TLS for `https://`.

use anyhow::bail;
use tessera_client::{health::Health, Client, RetryPolicy, ServerAddress, TlsFlags};

use crate::cli::HealthArgs;

/// Runs the probe: Ok when the service is SERVING.
pub async fn probe(args: &HealthArgs) -> anyhow::Result<()> {
    let address = ServerAddress::parse(&args.server)
        .map_err(|e| anyhow::anyhow!("--server (TESSERA_SERVER): {e}"))?;
    let mut builder = Client::builder()
        .address(address.uri())
        .connect_timeout(args.timeout)
        .deadline(args.timeout)
        // One question, one answer: a probe that waits is the orchestrator's business.
        .retry(RetryPolicy::never())
        // An operator reads a failing probe's output: say why a connection closed.
        .diagnose_failures(true);
    if let Some(ca) = &args.ca {
        builder = builder.ca_file(ca);
    }
    if let Some(name) = &args.tls_server_name {
        builder = builder.tls_server_name(name);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        builder = builder.identity_files(cert, key);
    }
    builder
        .check()
        .map_err(|e| anyhow::anyhow!("{}", e.flags_message(&TlsFlags::CLI)))?;
    let client = builder
        .connect()
        .await
        .map_err(|e| crate::remote::unreachable(&address, &e))?;
    let health = client
        .health(&args.service)
        .await
        .map_err(|e| match e.transport_problem() {
            Some(_) => crate::remote::unreachable(&address, &e),
            None => anyhow::anyhow!("health check failed: {}", e.message()),
        })?;
    match health {
        Health::Serving => {
            println!("SERVING");
            Ok(())
        }
        Health::NotServing => bail!("NOT_SERVING (is PostgreSQL reachable?)"),
        other => bail!("{} (--service {:?})", other.as_str(), args.service),
    }
}
