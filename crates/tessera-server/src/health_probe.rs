//! `tessera health`: asks a server's gRPC health service whether it is SERVING and exits 0 or 1,
//! for container health checks and Kubernetes exec probes (whose native gRPC probe cannot speak
//! TLS). Plaintext for `http://` and bare `host:port`, TLS for `https://`.

use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context};
use clap::Args;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

/// Flags of `tessera health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// PEM CA certificates to verify an `https://` server with (default: the system's roots).
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
    #[arg(long, default_value = "3s", value_parser = humantime_secs)]
    pub timeout: Duration,
}

fn humantime_secs(value: &str) -> Result<Duration, String> {
    tessera_core::ttl::parse_ttl(value)
        .map(|d| d.unsigned_abs())
        .map_err(|e| e.to_string())
}

/// Builds the endpoint for `server`: `host:port` and `http://` are plaintext, `https://` is TLS
/// verified with `ca` (or the system's roots).
pub fn endpoint(
    server: &str,
    ca: Option<&PathBuf>,
    server_name: Option<&str>,
) -> anyhow::Result<Endpoint> {
    let (url, tls) = if let Some(rest) = server.strip_prefix("https://") {
        (format!("https://{rest}"), true)
    } else if server.starts_with("http://") {
        (server.to_owned(), false)
    } else if server.contains("://") {
        bail!("--server {server:?}: use host:port, http://host:port (plaintext) or https://host:port (TLS)");
    } else {
        (format!("http://{server}"), false)
    };
    let mut endpoint = Channel::from_shared(url.clone()).with_context(|| {
        format!("--server {server:?} is not an address like 127.0.0.1:50051 or https://tessera.example:50051")
    })?;
    if tls {
        let mut config = ClientTlsConfig::new();
        config = match ca {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("--ca: cannot read {}", path.display()))?;
                config.ca_certificate(Certificate::from_pem(pem))
            }
            None => config.with_native_roots(),
        };
        if let Some(name) = server_name {
            config = config.domain_name(name);
        }
        endpoint = endpoint
            .tls_config(config)
            .with_context(|| format!("tls settings for {url}"))?;
    } else if ca.is_some() {
        bail!("--ca is set but --server {server:?} is plaintext: use https://");
    }
    Ok(endpoint)
}

/// Runs the probe: Ok when the service is SERVING.
pub async fn probe(server: &str, args: &HealthArgs) -> anyhow::Result<()> {
    let endpoint = endpoint(server, args.ca.as_ref(), args.tls_server_name.as_deref())?
        .connect_timeout(args.timeout)
        .timeout(args.timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach Tessera at {server}: {e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        assert_eq!(
            endpoint("127.0.0.1:50051", None, None)
                .unwrap()
                .uri()
                .to_string(),
            "http://127.0.0.1:50051/"
        );
        assert!(endpoint("http://localhost:1", None, None).is_ok());
        assert!(endpoint("https://localhost:1", None, None).is_ok());
        let err = endpoint("ftp://x:1", None, None).unwrap_err().to_string();
        assert!(err.contains("https://host:port"), "{err}");
        let err = endpoint("http://x:1", Some(&PathBuf::from("/ca.pem")), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("use https://"), "{err}");
    }
}
