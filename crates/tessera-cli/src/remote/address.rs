//! The one address form every Tessera client accepts is `tessera-client`'s [`ServerAddress`]
//! (`host:port`, `http://host:port` or `https://host:port`); here only how the CLI dials it.

pub use tessera_client::ServerAddress;

/// How to verify an `https://` server: a CA file (default: the system's roots) and the name to
/// expect in its certificate (default: the address's host).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// PEM CA certificates.
    pub ca: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry.
    pub server_name: Option<String>,
}

/// The tonic endpoint for a [`ServerAddress`] (the CLI's commands still dial tonic directly).
pub trait Dial {
    /// The endpoint to dial: plaintext for `http://`, TLS verified per `tls` for `https://`.
    fn endpoint(&self, tls: &ClientTls) -> anyhow::Result<tonic::transport::Endpoint>;
}

impl Dial for ServerAddress {
    fn endpoint(&self, tls: &ClientTls) -> anyhow::Result<tonic::transport::Endpoint> {
        use anyhow::Context;
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
        let uri = self.uri();
        let endpoint =
            Endpoint::from_shared(uri.clone()).with_context(|| format!("{uri:?} is not a URL"))?;
        if !self.tls {
            if tls.ca.is_some() {
                anyhow::bail!("--ca is set but {self} is plaintext: use https://");
            }
            return Ok(endpoint);
        }
        let mut config = match &tls.ca {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("--ca: cannot read {}", path.display()))?;
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
            }
            None => ClientTlsConfig::new().with_native_roots(),
        };
        if let Some(name) = &tls.server_name {
            config = config.domain_name(name);
        }
        endpoint
            .tls_config(config)
            .with_context(|| format!("tls settings for {uri}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_dials_tls_and_a_ca_on_plaintext_is_refused() {
        let tls = ClientTls::default();
        let secure = ServerAddress::parse("https://localhost:50051").unwrap();
        assert_eq!(
            secure.endpoint(&tls).unwrap().uri().scheme_str(),
            Some("https")
        );
        let plain = ServerAddress::parse("127.0.0.1:50051").unwrap();
        let with_ca = ClientTls {
            ca: Some("/ca.pem".into()),
            server_name: None,
        };
        let err = plain.endpoint(&with_ca).unwrap_err().to_string();
        assert!(err.contains("use https://"), "{err}");
    }
}
