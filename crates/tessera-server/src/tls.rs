//! TLS on the gRPC listener: the serving certificate comes from `tessera_process::tls` (reloaded
//! without a restart); here is mutual TLS, whose client identity (read once at the handshake by
//! [`crate::connections`], which also runs the handshakes) is put into each request's extensions
//! for the audit trail.

use std::task::{Context as TaskContext, Poll};

use rustls::pki_types::CertificateDer;

pub use tessera_process::tls::{certificate_not_after, ReloadingCert, TlsFiles};

use crate::connections::PeerIdentity;

/// The identity of a client certificate (mutual TLS): its subject, for the audit trail and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub String);

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

/// The subject of a verified client certificate, e.g. `CN=billing,O=example`.
pub fn client_subject(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.subject().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_subject_reads_the_distinguished_name() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["billing".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "billing");
        let cert = params.self_signed(&key).unwrap();
        let subject = client_subject(cert.der()).unwrap();
        assert!(subject.contains("CN=billing"), "{subject}");
    }
}
