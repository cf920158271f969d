//! After a call failed with nothing but "the connection closed", one look at the server to say
//! why: a TLS server refusing a client without a certificate (TLS 1.3 refuses after the handshake,
//! so the client only sees its connection close), or a TLS port dialled in plaintext. Only when
//! the client asks for it ([`crate::ClientBuilder::diagnose_failures`]: the CLI does), only after a
//! failure, one connection, bounded by a timeout.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crate::address::ServerAddress;
use crate::transport::TransportProblem;

/// What the client was configured with, to repeat the same handshake.
#[derive(Clone, Default)]
pub(crate) struct TlsMaterial {
    pub(crate) ca: Option<Vec<u8>>,
    pub(crate) identity: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    pub(crate) server_name: Option<String>,
}

/// The HTTP/2 connection preface and an empty SETTINGS frame: what a gRPC client sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Looks at `address` once, within `limit`; `None` when nothing specific shows.
pub(crate) async fn diagnose(
    address: &ServerAddress,
    tls: &TlsMaterial,
    limit: Duration,
) -> Option<TransportProblem> {
    tokio::time::timeout(limit, look(address, tls))
        .await
        .ok()
        .flatten()
}

async fn look(address: &ServerAddress, tls: &TlsMaterial) -> Option<TransportProblem> {
    let mut tcp = TcpStream::connect(address.authority.as_str()).await.ok()?;
    if !address.tls {
        // A TLS server answers a plaintext preface with a TLS alert record.
        tcp.write_all(H2_PREFACE).await.ok()?;
        let mut first = [0u8; 2];
        return match tcp.read_exact(&mut first).await {
            Ok(_) if first == [0x15, 0x03] => Some(TransportProblem::ServerSpeaksTls),
            _ => None,
        };
    }
    let config = client_config(tls)?;
    let name = tls
        .server_name
        .clone()
        .unwrap_or_else(|| address.host().to_owned());
    let name = ServerName::try_from(name).ok()?;
    let mut stream = match tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    {
        Ok(stream) => stream,
        Err(e) => return TransportProblem::from_text(&e.to_string()),
    };
    // TLS 1.3: a server that wants a certificate says so after the handshake, in answer to the
    // first bytes; a server content with this client answers with its own SETTINGS.
    stream.write_all(H2_PREFACE).await.ok()?;
    stream.flush().await.ok()?;
    let mut answer = [0u8; 9];
    match stream.read(&mut answer).await {
        Ok(n) if n > 0 => None,
        Ok(_) if tls.identity.is_none() => Some(TransportProblem::ClientCertificateRequired),
        Ok(_) => None,
        Err(e) => TransportProblem::from_text(&e.to_string()),
    }
}

fn client_config(tls: &TlsMaterial) -> Option<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots.add(cert.ok()?).ok()?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots);
    let mut config = match &tls.identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            let key = PrivateKeyDer::from_pem_slice(key).ok()?;
            builder.with_client_auth_cert(chain, key).ok()?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Some(config)
}
