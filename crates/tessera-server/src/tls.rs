//! TLS on the gRPC listener: the serving certificate comes from `tessera_process::tls` (reloaded
//! without a restart); here is mutual TLS, whose client identity (read once at the handshake by
//! [`crate::connections`], which also runs the handshakes) is put into each request's extensions
//! for the audit trail.

use std::task::{Context as TaskContext, Poll};

use rustls::pki_types::CertificateDer;

pub use tessera_process::tls::{certificate_not_after, ReloadingCert, TlsFiles};

use crate::connections::PeerIdentity;

/// A verified client certificate, as the audit trail records it: subject and issuer as RFC 4514
/// strings (every special or control character escaped, so a CN containing `, O=Trusted Corp`
/// cannot pass for an O=), serial number and SHA-256 fingerprint, which name the certificate
/// exactly where two share a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Subject, RFC 4514 (`CN=billing,O=example`).
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
}

impl ClientCertificate {
    /// Reads a DER certificate; `None` when it does not parse (rustls verified it already).
    pub fn of(der: &CertificateDer<'_>) -> Option<ClientCertificate> {
        use sha2::Digest as _;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        Some(ClientCertificate {
            subject: rfc4514(cert.subject()),
            issuer: rfc4514(cert.issuer()),
            serial: hex(cert.raw_serial()),
            sha256: hex(&sha2::Sha256::digest(der.as_ref())),
        })
    }

    /// The audit trail's record of it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "sha256": self.sha256,
        })
    }
}

/// The client's IP address: from the connection's identity ([`crate::connections`]), else from
/// the plain TCP connection tonic describes.
pub fn peer_ip<T>(request: &tonic::Request<T>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<PeerIdentity>()
        .and_then(|peer| peer.remote_addr)
        .or_else(|| request.remote_addr())
        .map(|addr| addr.ip())
}

tokio::task_local! {
    /// The client certificate of the connection the current call came in on (mutual TLS).
    static CLIENT_CERTIFICATE: Option<ClientCertificate>;
}

/// The current call's client certificate, under mutual TLS; read when writing the audit trail.
pub fn current_client_certificate() -> Option<ClientCertificate> {
    CLIENT_CERTIFICATE.try_with(Clone::clone).ok().flatten()
}

/// Runs `work` with `certificate` as the current call's client certificate: for work a call hands
/// to a task of its own (task-locals do not cross `tokio::spawn`).
pub async fn with_client_certificate<F: std::future::Future>(
    certificate: Option<ClientCertificate>,
    work: F,
) -> F::Output {
    CLIENT_CERTIFICATE.scope(certificate, work).await
}

/// Runs each call with its connection's client certificate in scope, so the audit trail can
/// record it without every use case passing it along.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCertificateLayer;

impl<S> tower::Layer<S> for ClientCertificateLayer {
    type Service = ClientCertificateScope<S>;

    fn layer(&self, inner: S) -> ClientCertificateScope<S> {
        ClientCertificateScope { inner }
    }
}

/// The service of [`ClientCertificateLayer`].
#[derive(Debug, Clone)]
pub struct ClientCertificateScope<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for ClientCertificateScope<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tokio::task::futures::TaskLocalFuture<Option<ClientCertificate>, S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let certificate = request
            .extensions()
            .get::<PeerIdentity>()
            .and_then(|peer| peer.client_certificate.clone());
        CLIENT_CERTIFICATE.scope(certificate, self.inner.call(request))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A distinguished name as RFC 4514 writes it: the last RDN first, `,` between RDNs, `+` inside a
/// multi-valued one, the short names of §3 or else the dotted OID, and values escaped (§2.4).
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    let value = match attribute.as_str() {
                        Ok(text) => escape_value(text),
                        Err(_) => format!("#{}", hex(attribute.attr_value().data)),
                    };
                    format!("{}={value}", short_name(&oid).unwrap_or(&oid))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// RFC 4514 §3's attribute type names.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// Escapes an attribute value (RFC 4514 §2.4): `"+,;<>\` with a backslash, a leading space or `#`
/// and a trailing space likewise, and every control character (and NUL) as `\XX` per UTF-8 byte.
fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (index, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if index == 0 || index == last => out.push_str("\\ "),
            '#' if index == 0 => out.push_str("\\#"),
            c if c.is_control() => {
                let mut buffer = [0u8; 4];
                for byte in c.encode_utf8(&mut buffer).bytes() {
                    out.push_str(&format!("\\{byte:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_certificate_is_named_exactly() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["billing".to_owned()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0a, 0xbc]));
        // Encoded O first, then CN: RFC 4514 writes the last one first.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "billing, O=Trusted Corp\n\u{7}");
        let cert = params.self_signed(&key).unwrap();
        let named = ClientCertificate::of(cert.der()).unwrap();
        // The forged "O=" stays inside the CN, escaped; the control character is hex.
        assert_eq!(
            named.subject,
            r"CN=billing\, O=Trusted Corp\0A\07,O=Example"
        );
        assert_eq!(named.issuer, named.subject, "self-signed");
        assert_eq!(named.serial, "0abc");
        assert_eq!(named.sha256.len(), 64);
    }

    #[test]
    fn values_escape_what_rfc_4514_says() {
        assert_eq!(
            escape_value(r#" #a+b;c<d>e\"f "#),
            r#"\ #a\+b\;c\<d\>e\\\"f\ "#
        );
        assert_eq!(escape_value("#x"), r"\#x");
        assert_eq!(escape_value("a\u{0}b\u{1b}"), r"a\00b\1B");
        assert_eq!(escape_value("Zoë"), "Zoë");
    }
}
