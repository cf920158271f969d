//! Why a connection failed below gRPC, read from the transport's error chain, so a person is told
//! what happened and which setting to change ("the server speaks plaintext: use http://") instead
//! of a nest of "transport error: … : …".
//!
//! The transport's errors (rustls, hyper, the socket) reach this crate as text inside
//! `std::io::Error`s whose `source()` skips the wrapped error, so they are recognised by the
//! stable `Display` forms of rustls 0.23 and the operating system.

use std::fmt;

/// The flags a program names in its advice (the CLI's `--ca`, an edge's `--tessera-ca`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFlags {
    /// The server address flag.
    pub address: &'static str,
    /// The CA file flag.
    pub ca: &'static str,
    /// The client certificate flag.
    pub cert: &'static str,
    /// The client key flag.
    pub key: &'static str,
    /// The expected server name flag, if the program has one.
    pub server_name: Option<&'static str>,
}

impl TlsFlags {
    /// The `tessera` CLI's flags.
    pub const CLI: TlsFlags = TlsFlags {
        address: "--server",
        ca: "--ca",
        cert: "--cert",
        key: "--key",
        server_name: Some("--tls-server-name"),
    };
    /// The flags of [`crate::ServiceArgs`] (both edges, services of yours).
    pub const SERVICE: TlsFlags = TlsFlags {
        address: "--tessera",
        ca: "--tessera-ca",
        cert: "--tessera-cert",
        key: "--tessera-key",
        server_name: None,
    };
}

/// What went wrong while connecting, when the transport says.
///
/// ```
/// use tessera_client::{TlsFlags, TransportProblem};
///
/// let problem = TransportProblem::from_text("invalid peer certificate: UnknownIssuer").unwrap();
/// assert_eq!(problem, TransportProblem::UnknownIssuer);
/// assert!(problem.advice(&TlsFlags::CLI).contains("--ca"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportProblem {
    /// Nothing listens at the address.
    ConnectionRefused,
    /// `https://` to a server that answered in plaintext.
    ServerSpeaksPlaintext,
    /// `http://` to a server that speaks TLS.
    ServerSpeaksTls,
    /// The server's certificate is not signed by a CA this client trusts.
    UnknownIssuer,
    /// The server's certificate does not name the host dialled.
    NameMismatch,
    /// The server's certificate has expired or is not valid yet.
    CertificateExpired,
    /// The server asked for a client certificate and none was sent.
    ClientCertificateRequired,
    /// The server refused the client certificate that was sent.
    ClientCertificateRefused,
}

impl TransportProblem {
    /// Recognises one error text (or a whole chain joined by `: `).
    pub fn from_text(text: &str) -> Option<TransportProblem> {
        use TransportProblem::*;
        let has = |needle: &str| text.contains(needle);
        // Most specific first: a refused certificate also closes the connection.
        if has("CertificateRequired") {
            Some(ClientCertificateRequired)
        } else if has("received fatal alert: UnknownCA")
            || has("received fatal alert: BadCertificate")
            || has("received fatal alert: UnsupportedCertificate")
            || has("received fatal alert: CertificateUnknown")
            || has("received fatal alert: AccessDenied")
        {
            // TLS 1.2 servers answer a missing certificate with HandshakeFailure; that case is
            // below, where nothing more specific is known.
            Some(ClientCertificateRefused)
        } else if has("UnknownIssuer") || has("BadSignature") {
            Some(UnknownIssuer)
        } else if has("NotValidForName") || has("certificate not valid for name") {
            Some(NameMismatch)
        } else if has("invalid peer certificate: Expired") || has("NotValidYet") {
            Some(CertificateExpired)
        } else if has("corrupt message of type InvalidContentType")
            || has("InvalidContentType")
            || has("received corrupt message")
        {
            Some(ServerSpeaksPlaintext)
        } else if has("Connection refused") {
            Some(ConnectionRefused)
        } else {
            None
        }
    }

    /// Recognises the problem in an error and its causes.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Option<TransportProblem> {
        let mut current = Some(error);
        let mut chain = String::new();
        while let Some(e) = current {
            chain.push_str(&e.to_string());
            chain.push_str(": ");
            current = e.source();
        }
        TransportProblem::from_text(&chain)
    }

    /// What happened, in a few words.
    pub fn what(&self) -> &'static str {
        use TransportProblem::*;
        match self {
            ConnectionRefused => "nothing is listening there (connection refused)",
            ServerSpeaksPlaintext => "the server speaks plaintext, not TLS",
            ServerSpeaksTls => "the server speaks TLS, not plaintext",
            UnknownIssuer => "the server's certificate is not signed by a CA this machine trusts",
            NameMismatch => "the server's certificate does not name the host dialled",
            CertificateExpired => "the server's certificate has expired or is not valid yet",
            ClientCertificateRequired => "the server requires a client certificate",
            ClientCertificateRefused => {
                "the server refused the client certificate (not signed by its client CA?)"
            }
        }
    }

    /// What to do about it, naming the program's own flags.
    pub fn advice(&self, flags: &TlsFlags) -> String {
        use TransportProblem::*;
        match self {
            ConnectionRefused => {
                format!("is the server running? check the port in {}", flags.address)
            }
            ServerSpeaksPlaintext => format!("use http:// in {}", flags.address),
            ServerSpeaksTls => format!(
                "use https:// in {} (with {} for a private CA)",
                flags.address, flags.ca
            ),
            UnknownIssuer => format!(
                "pass {} with the CA certificate (PEM) that signed the server's",
                flags.ca
            ),
            NameMismatch => match flags.server_name {
                Some(flag) => {
                    format!("dial a name the certificate carries, or pass {flag} with that name")
                }
                None => format!("dial a name the certificate carries in {}", flags.address),
            },
            CertificateExpired => {
                "renew the server's certificate (or check this machine's clock)".into()
            }
            ClientCertificateRequired => format!(
                "pass {} and {} (PEM) with a certificate the server's client CA signed",
                flags.cert, flags.key
            ),
            ClientCertificateRefused => format!(
                "pass {} and {} with a certificate signed by the CA the server trusts for clients",
                flags.cert, flags.key
            ),
        }
    }
}

impl fmt::Display for TransportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_and_socket_texts_are_recognised() {
        use TransportProblem::*;
        for (text, problem) in [
            ("transport error: received corrupt message of type InvalidContentType", ServerSpeaksPlaintext),
            ("error trying to connect: invalid peer certificate: UnknownIssuer", UnknownIssuer),
            ("invalid peer certificate: certificate not valid for name \"x\"; certificate is only valid for DnsName(\"y\")", NameMismatch),
            ("invalid peer certificate: NotValidForName", NameMismatch),
            ("invalid peer certificate: Expired", CertificateExpired),
            ("received fatal alert: CertificateRequired", ClientCertificateRequired),
            ("received fatal alert: UnknownCA", ClientCertificateRefused),
            ("received fatal alert: BadCertificate", ClientCertificateRefused),
            ("tcp connect error: Connection refused (os error 111)", ConnectionRefused),
        ] {
            assert_eq!(TransportProblem::from_text(text), Some(problem), "{text}");
        }
        assert_eq!(TransportProblem::from_text("deadline has elapsed"), None);
    }

    #[test]
    fn advice_names_the_programs_own_flags() {
        let cli = TransportProblem::ClientCertificateRequired.advice(&TlsFlags::CLI);
        assert!(cli.contains("--cert") && cli.contains("--key"), "{cli}");
        let edge = TransportProblem::ClientCertificateRequired.advice(&TlsFlags::SERVICE);
        assert!(
            edge.contains("--tessera-cert") && edge.contains("--tessera-key"),
            "{edge}"
        );
        assert!(TransportProblem::UnknownIssuer
            .advice(&TlsFlags::SERVICE)
            .contains("--tessera-ca"));
        assert!(TransportProblem::ServerSpeaksPlaintext
            .advice(&TlsFlags::CLI)
            .contains("http://"));
    }
}
