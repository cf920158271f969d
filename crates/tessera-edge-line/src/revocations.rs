//! The revocation feed, for the one case where Tessera can no longer answer for a connection.
//!
//! A connection is opened with `AUTH`, which spends one use of a limited-use token. Once a
//! limited-use token's last use is spent, Tessera calls it inactive on every later call
//! (`CheckNamespace` included, and it never says why), although the connection it opened is
//! still entitled to run. For such a connection the edge judges later commands from what
//! `Introspect` said at AUTH (namespace, expiry), and learns of a revocation from Tessera's
//! `WatchRevocations` stream, which this module follows. While the stream is down those commands
//! fail closed.
//!
//! When Tessera can no longer resume the feed where the edge left it (revocations were pruned,
//! `RESYNC_REQUIRED`), any revocation may have been missed: every watched token is then treated
//! as revoked (its verdict unknown, so fail closed), and the feed starts over.
//!
//! Only tokens that some connection is watching are remembered, so memory stays bounded by the
//! open connections, not by Tessera's revocation history. A token is watched (by the hash of its
//! secret, the key the feed publishes) *before* it is introspected at AUTH: any revocation the
//! feed delivers later is then recorded, and one committed earlier made the AUTH fail anyway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tessera_client::{Client, Error, Revocation, RevocationFollower};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, error, info};

#[derive(Debug)]
struct WatchedToken {
    holders: usize,
    revoked: Arc<AtomicBool>,
}

#[derive(Debug)]
struct WatchTable {
    /// The stream is open.
    live: watch::Sender<bool>,
    /// The lease the database granted: nanoseconds after `base` until which the feed's verdicts
    /// may be trusted.
    lease_until: AtomicU64,
    base: Instant,
    /// Hex token hashes and token ids being watched.
    watched: Mutex<HashMap<String, WatchedToken>>,
}

impl Default for WatchTable {
    fn default() -> Self {
        Self {
            live: watch::Sender::new(false),
            lease_until: AtomicU64::new(0),
            base: Instant::now(),
            watched: Mutex::default(),
        }
    }
}

impl WatchTable {
    fn set_live(&self, live: bool) {
        self.live.send_replace(live);
    }

    fn since_base(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The stream is open and the database proved it current within the lease.
    fn is_current(&self) -> bool {
        *self.live.borrow()
            && self.since_base(Instant::now()) < self.lease_until.load(Ordering::Acquire)
    }

    fn watched(&self) -> MutexGuard<'_, HashMap<String, WatchedToken>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a revocation of a watched token; others are ignored.
    fn mark_revoked(&self, keys: [&str; 2]) -> bool {
        let watched = self.watched();
        let mut hit = false;
        for key in keys {
            if let Some(entry) = watched.get(key) {
                entry.revoked.store(true, Ordering::Release);
                hit = true;
            }
        }
        hit
    }

    /// The feed lost its place: every watched token may have been revoked unseen.
    fn revoke_all(&self) -> usize {
        let watched = self.watched();
        for entry in watched.values() {
            entry.revoked.store(true, Ordering::Release);
        }
        watched.len()
    }
}

/// Follows `WatchRevocations` and tells watched tokens when they are revoked.
#[derive(Debug, Clone, Default)]
pub struct RevocationWatch {
    shared: Arc<WatchTable>,
}

impl RevocationWatch {
    /// A watch that is not following the feed yet (and so is not live).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the feed is being followed right now, under a lease the database granted: only
    /// then are its verdicts trusted.
    pub fn is_live(&self) -> bool {
        self.shared.is_current()
    }

    /// Waits up to `limit` for the feed to be followed under a lease; whether it is.
    pub async fn wait_live(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut live = self.shared.live.subscribe();
        loop {
            if self.shared.is_current() {
                return true;
            }
            let connected = tokio::time::timeout_at(deadline, live.wait_for(|live| *live)).await;
            if !matches!(connected, Ok(Ok(_))) {
                return false;
            }
            // Open; the lease follows within an acknowledgement.
            if tokio::time::Instant::now() >= deadline {
                return self.shared.is_current();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Starts watching a token by a key the feed publishes: the lowercase hex SHA-256 of its
    /// secret, or its public id.
    pub fn watch(&self, key: String) -> Watched {
        let mut watched = Watched {
            shared: self.shared.clone(),
            keys: Vec::new(),
        };
        watched.also(key);
        watched
    }

    /// Records a revocation as if the feed had delivered it (for tests of the edge's logic).
    pub fn record(&self, token_hash: &str, token_id: &str) -> bool {
        self.shared.mark_revoked([token_hash, token_id])
    }

    /// Follows the feed on `client` until the task is aborted, reconnecting after failures and
    /// resuming after the last revocation seen, so none is missed or repeated.
    pub fn spawn(&self, client: Client) -> JoinHandle<()> {
        let name = format!("edge-line pid {}", std::process::id());
        client.follow_revocations(self.shared.clone(), &name)
    }
}

impl RevocationFollower for WatchTable {
    fn connected(&self, after_sequence: u64) {
        self.set_live(true);
        info!(after_sequence, "following the revocation feed");
    }

    fn revoked(&self, revocation: &Revocation) {
        if self.mark_revoked([&revocation.token_hash, &revocation.token_id]) {
            info!(token_id = %revocation.token_id, "watched token revoked");
        }
    }

    fn lost_place(&self, oldest_sequence: Option<u64>) {
        self.set_live(false);
        let dropped = self.revoke_all();
        error!(
            ?oldest_sequence,
            dropped,
            "the revocation feed lost its place; every watched token is treated as revoked"
        );
    }

    fn renewed(&self, until: Instant) {
        // The stream delivers every revocation in order, so a lapse missed nothing that the next
        // renewal (which proves the edge current) has not applied: nothing to forget here.
        self.lease_until
            .store(self.since_base(until), Ordering::Release);
    }

    fn disconnected(&self, error: &Error) {
        self.set_live(false);
        debug!(
            reason = error.wire_reason(),
            message = error.message(),
            "revocation feed down"
        );
    }
}

/// A token some connection is watching; stops watching when dropped.
pub struct Watched {
    shared: Arc<WatchTable>,
    keys: Vec<(String, Arc<AtomicBool>)>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("revoked", &self.is_revoked())
            .finish_non_exhaustive()
    }
}

impl Watched {
    /// Watches the same token under another key as well (its public id, once known).
    pub fn also(&mut self, key: String) {
        if key.is_empty() || self.keys.iter().any(|(k, _)| *k == key) {
            return;
        }
        let revoked = {
            let mut watched = self.shared.watched();
            let entry = watched.entry(key.clone()).or_insert_with(|| WatchedToken {
                holders: 0,
                revoked: Arc::new(AtomicBool::new(false)),
            });
            entry.holders += 1;
            entry.revoked.clone()
        };
        self.keys.push((key, revoked));
    }

    /// Whether the feed has reported the token revoked since watching began.
    pub fn is_revoked(&self) -> bool {
        self.keys
            .iter()
            .any(|(_, revoked)| revoked.load(Ordering::Acquire))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut watched = self.shared.watched();
        for (key, _) in self.keys.drain(..) {
            if let Some(entry) = watched.get_mut(&key) {
                entry.holders -= 1;
                if entry.holders == 0 {
                    watched.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_watched_tokens_are_remembered_and_only_while_watched() {
        let watch = RevocationWatch::new();
        assert!(!watch.is_live());
        assert!(!watch.record("h-other", "id-other"), "nobody watches it");

        let mut first = watch.watch("h1".into());
        first.also("id1".into());
        let second = watch.watch("h1".into());
        assert!(!first.is_revoked());
        // The feed names the token by id only: both watchers of the token hear it.
        assert!(watch.record("h-unknown", "id1"));
        assert!(first.is_revoked());
        assert!(
            !second.is_revoked(),
            "watched only by hash, which was not named"
        );
        assert!(watch.record("h1", ""));
        assert!(second.is_revoked());

        drop(first);
        drop(second);
        assert!(
            watch.shared.watched().is_empty(),
            "entries leave with their watchers"
        );
        let again = watch.watch("h1".into());
        assert!(!again.is_revoked(), "a fresh watch starts clean");
    }

    /// A feed that has lost its place: the first stream delivers sequences 1 and 2 and ends;
    /// resuming after 2 is answered RESYNC_REQUIRED (sequences up to 9 were pruned); from 0 it
    /// delivers 10 and stays open.
    mod pruned_feed {
        use std::pin::Pin;

        use tessera_proto::v1 as pb;
        use tessera_proto::v1::auth_service_server::{AuthService, AuthServiceServer};
        use tokio_stream::Stream;
        use tonic::{Request, Response, Status};
        use tonic_types::{ErrorDetails, StatusExt};

        pub struct Feed(pub std::sync::atomic::AtomicU32);

        type Revocations =
            Pin<Box<dyn Stream<Item = Result<pb::WatchRevocationsResponse, Status>> + Send>>;

        fn revocation(sequence: u64) -> Result<pb::WatchRevocationsResponse, Status> {
            Ok(pb::WatchRevocationsResponse {
                sequence,
                token_id: format!("id{sequence}"),
                token_hash: format!("h{sequence}"),
                revoked_at: None,
                ..Default::default()
            })
        }

        #[tonic::async_trait]
        impl AuthService for Feed {
            type WatchRevocationsStream = Revocations;

            async fn acknowledge_revocations(
                &self,
                _: Request<pb::AcknowledgeRevocationsRequest>,
            ) -> Result<Response<pb::AcknowledgeRevocationsResponse>, Status> {
                Ok(Response::new(pb::AcknowledgeRevocationsResponse {
                    current: true,
                    lease: Some(std::time::Duration::from_secs(60).try_into().unwrap()),
                    head_sequence: 10,
                }))
            }

            async fn watch_revocations(
                &self,
                request: Request<pb::WatchRevocationsRequest>,
            ) -> Result<Response<Revocations>, Status> {
                let opened = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match (opened, request.into_inner().after_sequence) {
                    (0, 0) => Ok(Response::new(Box::pin(tokio_stream::iter([
                        revocation(1),
                        revocation(2),
                    ])))),
                    (_, 0) => Ok(Response::new(Box::pin(tokio_stream::StreamExt::chain(
                        tokio_stream::iter([revocation(10)]),
                        tokio_stream::pending(),
                    )))),
                    _ => Err(Status::with_error_details(
                        tonic::Code::FailedPrecondition,
                        "pruned",
                        ErrorDetails::with_error_info(
                            "RESYNC_REQUIRED",
                            "tessera",
                            [("oldest_sequence".to_owned(), "10".to_owned())]
                                .into_iter()
                                .collect::<std::collections::HashMap<_, _>>(),
                        ),
                    )),
                }
            }

            async fn login(
                &self,
                _: Request<pb::LoginRequest>,
            ) -> Result<Response<pb::LoginResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn unlock(
                &self,
                _: Request<pb::UnlockRequest>,
            ) -> Result<Response<pb::UnlockResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn revoke(
                &self,
                _: Request<pb::RevokeRequest>,
            ) -> Result<Response<pb::RevokeResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn issue_token(
                &self,
                _: Request<pb::IssueTokenRequest>,
            ) -> Result<Response<pb::IssueTokenResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn introspect(
                &self,
                _: Request<pb::IntrospectRequest>,
            ) -> Result<Response<pb::IntrospectResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn check_namespace(
                &self,
                _: Request<pb::CheckNamespaceRequest>,
            ) -> Result<Response<pb::CheckNamespaceResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn get_jwks(
                &self,
                _: Request<pb::GetJwksRequest>,
            ) -> Result<Response<pb::GetJwksResponse>, Status> {
                Err(Status::unimplemented(""))
            }
        }

        pub async fn start() -> std::net::SocketAddr {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(AuthServiceServer::new(Feed(Default::default())))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
            );
            addr
        }
    }

    #[tokio::test]
    async fn a_resync_treats_every_watched_token_as_revoked() {
        let addr = pruned_feed::start().await;
        let client = tessera_client::Client::builder()
            .address(format!("http://{addr}"))
            .token(tessera_client::Secret::new("tsr_svc_x".into()))
            .build()
            .unwrap();
        let watch = RevocationWatch::new();
        let one = watch.watch("h1".into());
        let quiet = watch.watch("h-never-named".into());
        let _feed = watch.spawn(client);
        // `h1` is revoked by the first stream; `h-never-named` never appears in the feed, yet once
        // the feed has lost its place it cannot be vouched for: treated as revoked.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !(one.is_revoked() && quiet.is_revoked()) {
            assert!(std::time::Instant::now() < deadline, "no resync seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            watch.wait_live(Duration::from_secs(30)).await,
            "the feed resumed from 0"
        );
        let fresh = watch.watch("h-after".into());
        assert!(
            !fresh.is_revoked(),
            "a token watched after the resync starts clean"
        );
    }
}
