//! The one address form every Tessera client accepts (CLI, edges, Python, Go): `host:port`,
//! `http://host:port` (plaintext) or `https://host:port` (TLS). Anything else is refused when the
//! address is read, with a message that shows an accepted form, not at the first call.

use std::fmt;

/// What an accepted form shows.
pub const EXAMPLE: &str = "host:port, http://host:port (plaintext) or https://host:port (TLS), e.g. http://127.0.0.1:50051";

/// A checked server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// `host:port`, as given (IPv6 hosts keep their brackets).
    pub authority: String,
    /// Whether the connection uses TLS (`https://`).
    pub tls: bool,
}

impl ServerAddress {
    /// Reads one of the accepted forms.
    pub fn parse(text: &str) -> Result<ServerAddress, String> {
        let refuse = |why: &str| format!("{text:?} is not a server address ({why}); use {EXAMPLE}");
        let trimmed = text.trim();
        let (rest, tls) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (rest, true)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (rest, false)
        } else if trimmed.contains("://") {
            return Err(refuse("unknown scheme"));
        } else {
            (trimmed, false)
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) || authority.chars().any(char::is_whitespace) {
            return Err(refuse("only host and port, no path, query or user"));
        }
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err(refuse("the port is missing"));
        };
        let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty() && !host.contains(':')
        };
        if !host_ok {
            return Err(refuse("the host is missing or malformed"));
        }
        if port.parse::<u16>().map_or(true, |port| port == 0) {
            return Err(refuse("the port must be a number from 1 to 65535"));
        }
        Ok(ServerAddress {
            authority: authority.to_owned(),
            tls,
        })
    }

    /// The URI to dial.
    pub fn uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

/// How to verify an `https://` server: a CA file (default: the system's roots) and the name to
/// expect in its certificate (default: the address's host).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// PEM CA certificates.
    pub ca: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry.
    pub server_name: Option<String>,
}

impl ServerAddress {
    /// The endpoint to dial: plaintext for `http://`, TLS verified per `tls` for `https://`.
    pub fn endpoint(&self, tls: &ClientTls) -> anyhow::Result<tonic::transport::Endpoint> {
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

impl fmt::Display for ServerAddress {
    /// The canonical spelling, also the key of stored sessions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_are_accepted_and_canonical() {
        for (text, canonical, tls) in [
            ("127.0.0.1:50051", "http://127.0.0.1:50051", false),
            ("http://127.0.0.1:50051", "http://127.0.0.1:50051", false),
            ("http://localhost:50051/", "http://localhost:50051", false),
            (
                "https://auth.example.com:443",
                "https://auth.example.com:443",
                true,
            ),
            ("[::1]:50051", "http://[::1]:50051", false),
        ] {
            let address = ServerAddress::parse(text).unwrap();
            assert_eq!(address.to_string(), canonical);
            assert_eq!(address.tls, tls);
        }
    }

    #[test]
    fn anything_else_is_refused_showing_an_accepted_form() {
        for text in [
            "",
            "localhost",
            "ftp://h:1",
            "http://h",
            "http://h:1/path",
            "h:0",
            "h:99999",
            "::1:50051",
            "http://user@h:1",
            "grpc://h:1",
        ] {
            let err = ServerAddress::parse(text).unwrap_err();
            assert!(err.contains("http://127.0.0.1:50051"), "{text:?}: {err}");
        }
    }

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
