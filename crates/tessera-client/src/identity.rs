//! The client's own certificate and key for mutual TLS: where they come from, read and given a
//! first look at start-up, so a wrong file is named by its setting (`cert`, `key`) rather than
//! found at the first handshake. The key's bytes are zeroed when dropped and never printed.

use std::path::PathBuf;

use tonic::transport::Identity;

use crate::error::{Error, Reason};

/// Where this client's own certificate and key come from (mutual TLS).
#[derive(Clone)]
pub(crate) enum IdentitySource {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: Vec<u8>, key: Vec<u8> },
}

impl std::fmt::Debug for IdentitySource {
    /// The key's content never shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentitySource::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            IdentitySource::Pem { .. } => f.write_str("Pem { .. }"),
        }
    }
}

/// The client certificate and key, read and given a first look, so a wrong file is named by its
/// setting at start-up rather than found at the first handshake.
#[allow(clippy::type_complexity)]
pub(crate) fn read_identity(
    source: &IdentitySource,
) -> Result<(Identity, Vec<u8>, zeroize::Zeroizing<Vec<u8>>), Error> {
    let read = |path: &PathBuf, field: &str, what: &str| {
        std::fs::read(path).map_err(|e| {
            Error::local(
                Reason::InvalidArgument,
                field,
                format!("cannot read the client {what} {}: {e}", path.display()),
            )
        })
    };
    let (cert, key, cert_name, key_name) = match source {
        IdentitySource::Files { cert, key } => (
            read(cert, "cert", "certificate")?,
            zeroize::Zeroizing::new(read(key, "key", "key")?),
            cert.display().to_string(),
            key.display().to_string(),
        ),
        IdentitySource::Pem { cert, key } => (
            cert.clone(),
            zeroize::Zeroizing::new(key.clone()),
            "the client certificate".to_owned(),
            "the client key".to_owned(),
        ),
    };
    let contains = |haystack: &[u8], needle: &str| {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    if !contains(&cert, "-----BEGIN CERTIFICATE-----") {
        return Err(Error::local(
            Reason::InvalidArgument,
            "cert",
            format!("{cert_name} holds no PEM certificate"),
        ));
    }
    if !contains(&key, "PRIVATE KEY-----") {
        return Err(Error::local(
            Reason::InvalidArgument,
            "key",
            format!("{key_name} holds no PEM private key"),
        ));
    }
    Ok((Identity::from_pem(&cert, key.as_slice()), cert, key))
}
