//! The one address form every Tessera client accepts (CLI, edges, Python, Go): `host:port`,
//! `http://host:port` (plaintext) or `https://host:port` (TLS). Anything else is refused when the
//! address is read, with a message that shows an accepted form, not at the first call.

use std::fmt;

/// What an accepted form looks like, for error messages.
pub const ADDRESS_EXAMPLE: &str = "host:port, http://host:port (plaintext) or https://host:port (TLS), e.g. http://127.0.0.1:50051";

/// A checked server address.
///
/// ```
/// use tessera_client::ServerAddress;
///
/// let address = ServerAddress::parse("127.0.0.1:50051").unwrap();
/// assert_eq!(address.to_string(), "http://127.0.0.1:50051");
/// assert!(ServerAddress::parse("https://auth.example.com:443").unwrap().tls);
/// assert!(ServerAddress::parse("ftp://auth.example.com:21").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddress {
    /// `host:port`, as given (IPv6 hosts keep their brackets).
    pub authority: String,
    /// Whether the connection uses TLS (`https://`).
    pub tls: bool,
}

impl ServerAddress {
    /// Reads one of the accepted forms.
    pub fn parse(text: &str) -> Result<ServerAddress, String> {
        let refuse =
            |why: &str| format!("{text:?} is not a server address ({why}); use {ADDRESS_EXAMPLE}");
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

    /// The host, without brackets or port: the name a TLS certificate must carry by default.
    pub fn host(&self) -> &str {
        let host = self
            .authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(host, _)| host);
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }
}

impl std::str::FromStr for ServerAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for ServerAddress {
    /// The canonical spelling, also the key of stored CLI sessions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_are_accepted_and_canonical() {
        for (text, canonical, tls, host) in [
            (
                "127.0.0.1:50051",
                "http://127.0.0.1:50051",
                false,
                "127.0.0.1",
            ),
            (
                "http://127.0.0.1:50051",
                "http://127.0.0.1:50051",
                false,
                "127.0.0.1",
            ),
            (
                "http://localhost:50051/",
                "http://localhost:50051",
                false,
                "localhost",
            ),
            (
                "https://auth.example.com:443",
                "https://auth.example.com:443",
                true,
                "auth.example.com",
            ),
            ("[::1]:50051", "http://[::1]:50051", false, "::1"),
        ] {
            let address = ServerAddress::parse(text).unwrap();
            assert_eq!(address.to_string(), canonical);
            assert_eq!(address.tls, tls);
            assert_eq!(address.host(), host);
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
}
