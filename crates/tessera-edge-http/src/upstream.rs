//! The pooled client for the one upstream the reverse proxy ([`crate::proxy`]) forwards to. It
//! sits below the handlers so that [`crate::state::AppState`] can hold it.

use std::time::Duration;

use axum::body::Body;
use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP/1.1 client for one upstream.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub(crate) client: Client<HttpConnector, Body>,
    pub(crate) upstream: Uri,
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`), connecting within `connect_timeout`.
    pub fn new(upstream: Uri, connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self { client, upstream }
    }

    /// The upstream's URI.
    pub fn upstream(&self) -> &Uri {
        &self.upstream
    }

    /// The upstream URI of a request for `path_and_query`.
    pub(crate) fn target(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        let authority = self
            .upstream
            .authority()
            .map(|a| a.as_str())
            .unwrap_or_default();
        Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query(path_and_query)
            .build()
    }
}
