//! A tiny AuthService on a loopback port whose answers a test chooses: UNAVAILABLE for unary
//! calls (counted), and a revocation feed that demands a resync when resumed past its oldest
//! retained sequence — the server side of the resync protocol as specified.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tessera_client::pb;
use tessera_client::pb::auth_service_server::{AuthService, AuthServiceServer};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// What the stub saw.
#[derive(Default)]
pub struct Seen {
    pub unary_calls: AtomicU32,
    pub watch_after: Mutex<Vec<u64>>,
}

#[derive(Clone)]
struct Stub {
    seen: Arc<Seen>,
    oldest: u64,
}

type Feed = Pin<Box<dyn Stream<Item = Result<pb::WatchRevocationsResponse, Status>> + Send>>;

impl Stub {
    fn unavailable<T>(&self) -> Result<Response<T>, Status> {
        self.seen.unary_calls.fetch_add(1, Ordering::SeqCst);
        Err(Status::unavailable("database unreachable"))
    }
}

#[tonic::async_trait]
impl AuthService for Stub {
    type WatchRevocationsStream = Feed;

    async fn login(
        &self,
        _: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        self.unavailable()
    }
    async fn unlock(
        &self,
        _: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        self.unavailable()
    }
    async fn revoke(
        &self,
        _: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        self.unavailable()
    }
    async fn issue_token(
        &self,
        _: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        self.unavailable()
    }
    async fn introspect(
        &self,
        _: Request<pb::IntrospectRequest>,
    ) -> Result<Response<pb::IntrospectResponse>, Status> {
        self.unavailable()
    }
    async fn check_namespace(
        &self,
        _: Request<pb::CheckNamespaceRequest>,
    ) -> Result<Response<pb::CheckNamespaceResponse>, Status> {
        self.unavailable()
    }
    async fn get_jwks(
        &self,
        _: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        self.unavailable()
    }
    async fn acknowledge_revocations(
        &self,
        _: Request<pb::AcknowledgeRevocationsRequest>,
    ) -> Result<Response<pb::AcknowledgeRevocationsResponse>, Status> {
        self.unavailable()
    }

    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> Result<Response<Feed>, Status> {
        let after = request.into_inner().after_sequence;
        self.seen.watch_after.lock().unwrap().push(after);
        if after > 0 && after + 1 < self.oldest {
            let metadata = [("oldest_sequence".to_owned(), self.oldest.to_string())]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>();
            return Err(Status::with_error_details(
                tonic::Code::FailedPrecondition,
                "revocations after the requested sequence were pruned",
                ErrorDetails::with_error_info("RESYNC_REQUIRED", "tessera", metadata),
            ));
        }
        let first = after.max(self.oldest - 1) + 1;
        let items: Vec<Result<pb::WatchRevocationsResponse, Status>> = (first..first + 2)
            .map(|sequence| {
                Ok(pb::WatchRevocationsResponse {
                    sequence,
                    token_id: format!("tok_{sequence}"),
                    token_hash: format!("{sequence:064x}"),
                    revoked_at: None,
                    ..Default::default()
                })
            })
            .collect();
        // Two revocations, then the stream ends (as when a replica restarts).
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

/// Starts the stub; revocations before `oldest` are "pruned".
pub async fn start(oldest: u64) -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let stub = Stub {
        seen: seen.clone(),
        oldest,
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AuthServiceServer::new(stub))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (addr, seen)
}

pub use tessera_harness::closed_port;
