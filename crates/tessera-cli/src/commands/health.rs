//! `tessera health`: asks a server's gRPC health service whether it is SERVING and exits 0 or 1,
//! for container health checks and Kubernetes exec probes (whose native gRPC probe cannot speak
//! TLS). Plaintext for `http://` and bare `host:port`, TLS for `https://`.

use anyhow::bail;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

use crate::{
    cli::HealthArgs,
    remote::{ClientTls, Dial, ServerAddress},
};

/// Runs the probe: Ok when the service is SERVING.
pub async fn probe(args: &HealthArgs) -> anyhow::Result<()> {
    let address = ServerAddress::parse(&args.server)
        .map_err(|e| anyhow::anyhow!("--server (TESSERA_SERVER): {e}"))?;
    let tls = ClientTls {
        ca: args.ca.clone(),
        server_name: args.tls_server_name.clone(),
    };
    let channel = address
        .endpoint(&tls)?
        .connect_timeout(args.timeout)
        .timeout(args.timeout)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach Tessera at {address}: {e}"))?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("health check failed: {}", status.message()))?
        .into_inner();
    match ServingStatus::try_from(answer.status) {
        Ok(ServingStatus::Serving) => {
            println!("SERVING");
            Ok(())
        }
        Ok(other) => bail!("{} (is PostgreSQL reachable?)", other.as_str_name()),
        Err(_) => bail!("unknown health status {}", answer.status),
    }
}
