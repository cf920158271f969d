//! The TCP connector under every channel: TCP_NODELAY, a connect limit, and a count of failed
//! connection attempts, which tells the client that a failed request never left (so even a call
//! that is not safe to repeat may go to the next address).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::Uri;

/// Failed connection attempts to one address.
#[derive(Debug, Default)]
pub(crate) struct ConnectFailures(AtomicU64);

impl ConnectFailures {
    pub(crate) fn count(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// `HttpConnector` with TCP_NODELAY and a connect limit, counting its failures.
#[derive(Clone)]
pub(crate) struct CountingConnector {
    http: HttpConnector,
    failures: Arc<ConnectFailures>,
}

impl CountingConnector {
    pub(crate) fn new(connect_timeout: Duration, failures: Arc<ConnectFailures>) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        Self { http, failures }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send>>;

impl tower_service::Service<Uri> for CountingConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.http, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = tower_service::Service::<Uri>::call(&mut self.http, uri);
        let failures = self.failures.clone();
        Box::pin(async move {
            let connected = connecting.await;
            if connected.is_err() {
                failures.0.fetch_add(1, Ordering::AcqRel);
            }
            connected.map_err(Into::into)
        })
    }
}
