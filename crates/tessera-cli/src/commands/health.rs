//! `tessera health`: asks a server's gRPC health service whether it is SERVING and exits 0 or 1,
//! for container health checks and Kubernetes exec probes (whose native gRPC probe cannot speak
//! TLS). Plaintext for `http://` and bare `host:port`, TLS for `https://`.

use anyhow::bail;
use clap::Args;
use std::{path::PathBuf, time::Duration};
use tessera_client::{health::Health, Client, RetryPolicy, ServerAddress, TlsFlags};

// The group's command line: its clap definition lives beside its body.

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
    /// PEM client certificate for a server that requires one (mutual TLS); with --key.
    #[arg(long, env = "TESSERA_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, env = "TESSERA_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The service to ask about; empty asks about the server as a whole.
    #[arg(long, default_value = "tessera.v1.AuthService")]
    pub service: String,
    /// Give up after this long, e.g. 3s.
    #[arg(long, default_value = "3s", value_parser = seconds)]
    pub timeout: Duration,
}

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

fn seconds(value: &str) -> Result<Duration, String> {
    tessera_rules::ttl::parse_ttl(value)
        .map(|d| d.unsigned_abs())
        .map_err(|e| e.to_string())
}
