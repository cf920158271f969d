//! `tessera health`: asks a server's gRPC health service whether it is SERVING and exits 0 or 1,
//! for container health checks and Kubernetes exec probes (whose native gRPC probe cannot speak
//! TLS). Plaintext for `http://` and bare `host:port`, TLS for `https://`.

use std::{path::PathBuf, time::Duration};

use crate::remote::{ClientTls, Dial, ServerAddress};
use anyhow::bail;
use clap::Args;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

/// Flags of `tessera health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server: host:port, http://host:port (plaintext) or https://host:port (TLS).
    #[arg(long, env = "TESSERA_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// PEM CA certificates to verify an https:// server with [default: the system's roots].
    #[arg(long, env = "TESSERA_CA")]
    pub ca: Option<PathBuf>,
    /// The name to expect in the server's certificate, when it differs from the --server host
    /// (e.g. probing 127.0.0.1 inside a pod whose certificate names the service).
    #[arg(long, env = "TESSERA_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// The service to ask about; empty asks about the server as a whole.
    #[arg(long, default_value = "tessera.v1.AuthService")]
    pub service: String,
    /// Give up after this long, e.g. 3s.
    #[arg(long, default_value = "3s", value_parser = seconds)]
    pub timeout: Duration,
}

fn seconds(value: &str) -> Result<Duration, String> {
    tessera_core::ttl::parse_ttl(value)
        .map(|d| d.unsigned_abs())
        .map_err(|e| e.to_string())
}

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
