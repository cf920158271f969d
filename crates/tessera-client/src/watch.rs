//! `WatchRevocations`, followed for as long as the caller wants: reconnects with backoff (on the
//! next address when several are configured), resumes after the last revocation seen (its
//! sequence and anchor, which the server checks against the feed), and says so when the server
//! can no longer resume (`RESYNC_REQUIRED`: pruned, or the database moved backwards) instead of
//! leaving a silent gap.
//!
//! [`Client::follow_revocations`] also keeps the follower's **lease**: it acknowledges what the
//! follower applied (`AcknowledgeRevocations`) right after each revocation and every fifth of a
//! lease otherwise, and tells the follower until when the database proved it current. A
//! follower serves from its cache only within that lease; a Revoke waits for its acknowledgement
//! or for the lease to run out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_proto::v1::auth_service_client::AuthServiceClient;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use tonic::Streaming;
use tracing::{debug, warn};

use crate::client::{Client, Repeat};
use crate::error::{Error, Reason};
use crate::pb;
use crate::types::time_of;

const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// One revocation from the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Position in the feed (increasing).
    pub sequence: u64,
    /// The revoked token's public id.
    pub token_id: String,
    /// Lowercase hex SHA-256 of the revoked token's secret.
    pub token_hash: String,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// What identifies it at its sequence (opaque; empty from servers before leases).
    pub anchor: String,
}

/// Where a follower stands: the last revocation (or checkpoint) it applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPosition {
    /// Its sequence (0: before the first).
    pub sequence: u64,
    /// Its anchor (empty at 0, or from servers before leases).
    pub anchor: String,
}

/// What the feed says next.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// The stream is (again) open, resuming after `after_sequence`.
    Connected {
        /// The last sequence seen before this stream (0: from the oldest retained).
        after_sequence: u64,
    },
    /// A token was revoked (and with it everything derived from it, each reported too).
    Revoked(Revocation),
    /// The stream stands at `sequence` without a revocation (a stream from the head starts so).
    Checkpoint {
        /// The newest sequence when the stream started.
        sequence: u64,
    },
    /// Revocations after the last sequence seen were pruned on the server: any revocation may
    /// have been missed. Drop every verdict cached from the feed (treat each token as unknown);
    /// the feed resumes from the oldest retained revocation.
    Resync {
        /// The oldest sequence the server still holds, when it said.
        oldest_sequence: Option<u64>,
    },
    /// The stream broke or could not be opened; the next call waits a little and reconnects.
    /// While disconnected, revocations can pass unseen: fail closed where that matters.
    Disconnected(Error),
}

/// A followed revocation feed; see [`Client::watch_revocations`].
pub struct RevocationFeed {
    client: Client,
    after_sequence: u64,
    after_anchor: String,
    /// Start from the head (and after a lost place, start there again) instead of replaying.
    from_head: bool,
    stream: Option<Streaming<pb::WatchRevocationsResponse>>,
    pause: Option<Duration>,
    next_pause: Duration,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("after_sequence", &self.after_sequence)
            .field("from_head", &self.from_head)
            .field("open", &self.stream.is_some())
            .finish()
    }
}

impl Client {
    /// Follows the revocation feed after `after_sequence` (0: from the oldest retained). Nothing
    /// is sent until [`RevocationFeed::next`]. The caller needs a service token with
    /// `introspect` (or a static token).
    ///
    /// ```no_run
    /// use tessera_client::{Client, WatchEvent};
    ///
    /// # async fn example(service: Client) {
    /// let mut feed = service.watch_revocations(0);
    /// loop {
    ///     match feed.next().await {
    ///         WatchEvent::Revoked(r) => println!("revoked {}", r.token_id),
    ///         WatchEvent::Resync { .. } => println!("forget every cached verdict"),
    ///         WatchEvent::Connected { after_sequence } => println!("following after {after_sequence}"),
    ///         WatchEvent::Checkpoint { sequence } => println!("standing at {sequence}"),
    ///         WatchEvent::Disconnected(e) => println!("feed down: {e}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn watch_revocations(&self, after_sequence: u64) -> RevocationFeed {
        RevocationFeed {
            client: self.clone(),
            after_sequence,
            after_anchor: String::new(),
            from_head: false,
            stream: None,
            pause: None,
            next_pause: FIRST_PAUSE,
        }
    }
}

impl Client {
    /// Follows the revocation feed from its newest revocation: nothing already revoked is
    /// replayed (a new follower's cache is empty anyway). The first event after `Connected` is a
    /// `Checkpoint`; after a lost place the feed starts from the head again.
    pub fn watch_revocations_from_head(&self) -> RevocationFeed {
        let mut feed = self.watch_revocations(0);
        feed.from_head = true;
        feed
    }

    /// Acknowledges `position` for the follower `follower_id` (a UUID it picked at start) and,
    /// with `renew`, asks for a lease; see `AcknowledgeRevocations`. Needs the feed's caller
    /// rights.
    pub async fn acknowledge_revocations(
        &self,
        follower_id: &str,
        name: &str,
        position: &FeedPosition,
        renew: bool,
    ) -> Result<pb::AcknowledgeRevocationsResponse, Error> {
        let message = pb::AcknowledgeRevocationsRequest {
            follower_id: follower_id.to_owned(),
            applied_sequence: position.sequence,
            applied_anchor: position.anchor.clone(),
            name: name.to_owned(),
            acknowledge_only: !renew,
        };
        self.unary(Repeat::Safe, message, |channel, request| async move {
            AuthServiceClient::new(channel)
                .acknowledge_revocations(request)
                .await
        })
        .await
    }
}

impl RevocationFeed {
    /// The last sequence seen (where a reconnect resumes).
    pub fn last_sequence(&self) -> u64 {
        self.after_sequence
    }

    /// The last position seen: sequence and anchor.
    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            sequence: self.after_sequence,
            anchor: self.after_anchor.clone(),
        }
    }

    /// Drops the stream; the next call opens one on the next address, resuming where this one
    /// stood (for a stream that went silent).
    pub fn reconnect_elsewhere(&mut self) {
        if self.stream.take().is_some() {
            self.client.prefer_next();
        }
    }

    /// Forgets the position: the next call starts again (from the head, or from 0).
    pub fn start_over(&mut self) {
        self.stream = None;
        self.after_sequence = 0;
        self.after_anchor.clear();
    }

    /// Whether a stream is open right now.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// The next event; reconnects as needed, so it never ends.
    pub async fn next(&mut self) -> WatchEvent {
        if let Some(stream) = &mut self.stream {
            let error = match stream.message().await {
                Ok(Some(message)) => {
                    self.next_pause = FIRST_PAUSE;
                    if message.checkpoint {
                        self.after_sequence = message.sequence;
                        self.after_anchor = message.anchor;
                        return WatchEvent::Checkpoint {
                            sequence: message.sequence,
                        };
                    }
                    if message.sequence >= self.after_sequence {
                        self.after_sequence = message.sequence;
                        self.after_anchor = message.anchor.clone();
                    }
                    return WatchEvent::Revoked(Revocation {
                        sequence: message.sequence,
                        token_id: message.token_id,
                        token_hash: message.token_hash,
                        revoked_at: time_of(message.revoked_at.as_ref()),
                        anchor: message.anchor,
                    });
                }
                Ok(None) => {
                    Error::local(Reason::Unavailable, "", "tessera ended the revocation feed")
                }
                Err(status) => Error::from_status(&status),
            };
            self.stream = None;
            return self.failed(error);
        }
        if let Some(pause) = self.pause.take() {
            tokio::time::sleep(pause).await;
        }
        let from_head = self.from_head && self.after_sequence == 0 && self.after_anchor.is_empty();
        let message = pb::WatchRevocationsRequest {
            after_sequence: if from_head { 0 } else { self.after_sequence },
            after_anchor: if from_head {
                String::new()
            } else {
                self.after_anchor.clone()
            },
            from_head,
        };
        match self
            .client
            .open_stream(message, |channel, request| async move {
                AuthServiceClient::new(channel)
                    .watch_revocations(request)
                    .await
            })
            .await
        {
            Ok(stream) => {
                self.stream = Some(stream);
                WatchEvent::Connected {
                    after_sequence: self.after_sequence,
                }
            }
            Err(error) => self.failed(error),
        }
    }

    fn failed(&mut self, error: Error) -> WatchEvent {
        if error.reason() == Reason::ResyncRequired
            && (self.after_sequence > 0 || !self.after_anchor.is_empty())
        {
            // Start over at once: the gap is reported, not waited on.
            self.after_sequence = 0;
            self.after_anchor.clear();
            self.next_pause = FIRST_PAUSE;
            return WatchEvent::Resync {
                oldest_sequence: error
                    .metadata("oldest_sequence")
                    .and_then(|s| s.parse().ok()),
            };
        }
        self.pause = Some(self.next_pause);
        self.next_pause = (self.next_pause * 2).min(LONGEST_PAUSE);
        WatchEvent::Disconnected(error)
    }
}

/// What a long-lived follower of the feed does with each event: the edges keep their revocation
/// state with one, and [`Client::follow_revocations`] drives it.
///
/// Each method is called from the following task, in feed order, and the next event is not read
/// until it returns: whatever a method changes is in place before anything later in the feed.
pub trait RevocationFollower: Send + Sync + 'static {
    /// The stream is (again) open, resuming after `after_sequence`: revocations from here on
    /// arrive in order.
    fn connected(&self, after_sequence: u64);
    /// A token was revoked.
    fn revoked(&self, revocation: &Revocation);
    /// The feed lost its place (`RESYNC_REQUIRED`: pruned, or the database moved backwards): any
    /// revocation may have been missed, so every verdict taken from the feed so far is unknown.
    /// The feed starts over.
    fn lost_place(&self, oldest_sequence: Option<u64>);
    /// The stream broke or could not be opened; revocations can pass unseen until the next
    /// [`connected`](Self::connected).
    fn disconnected(&self, error: &Error);
    /// The database proved the follower current: it may serve from its cache until `until`
    /// (measured from before the acknowledgement was sent). A follower whose previous lease ran
    /// out before this one must not keep anything it held from before.
    fn renewed(&self, until: Instant);
}

impl Client {
    /// Follows the feed from its head on a task of its own, for as long as the returned handle
    /// is not aborted, telling `follower` of every event, and keeps its lease: it acknowledges
    /// the follower's position after each revocation and every fifth of a lease, and calls
    /// [`RevocationFollower::renewed`] when the database grants one. `name` says who the
    /// follower is (e.g. `edge-http host pid 42`) in the answers of a Revoke that waited for it.
    pub fn follow_revocations<F: RevocationFollower>(
        &self,
        follower: Arc<F>,
        name: &str,
    ) -> tokio::task::JoinHandle<()> {
        let feed = self.watch_revocations_from_head();
        let (position_tx, position_rx) = watch::channel(None::<FeedPosition>);
        let signals = Arc::new(Signals::default());
        let acks = tokio::spawn(keep_lease(
            self.clone(),
            follower.clone(),
            name.to_owned(),
            position_rx,
            signals.clone(),
        ));
        tokio::spawn(async move {
            let _acks = LeaseKeeper(acks);
            follow(feed, follower, position_tx, signals).await;
        })
    }
}

/// What the lease keeper asks of the stream follower.
#[derive(Default)]
struct Signals {
    /// The database no longer holds the follower's position: start over from the head.
    start_over: Notify,
    /// Acknowledgements keep saying "behind" although the stream is open: it went silent.
    reconnect: Notify,
}

struct LeaseKeeper(tokio::task::JoinHandle<()>);

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn follow<F: RevocationFollower>(
    mut feed: RevocationFeed,
    follower: Arc<F>,
    position: watch::Sender<Option<FeedPosition>>,
    signals: Arc<Signals>,
) {
    loop {
        let event = tokio::select! {
            event = feed.next() => event,
            () = signals.start_over.notified() => {
                feed.start_over();
                follower.lost_place(None);
                position.send_replace(None);
                continue;
            }
            () = signals.reconnect.notified() => {
                feed.reconnect_elsewhere();
                continue;
            }
        };
        match event {
            WatchEvent::Connected { after_sequence } => follower.connected(after_sequence),
            WatchEvent::Checkpoint { .. } => {
                position.send_replace(Some(feed.position()));
            }
            WatchEvent::Revoked(revocation) => {
                follower.revoked(&revocation);
                // Acknowledged only once applied.
                position.send_replace(Some(feed.position()));
            }
            WatchEvent::Resync { oldest_sequence } => {
                follower.lost_place(oldest_sequence);
                position.send_replace(None);
            }
            WatchEvent::Disconnected(error) => follower.disconnected(&error),
        }
    }
}

/// Acknowledges the follower's position right after it changes and every fifth of a lease, and
/// renews the follower's lease whenever the database grants one.
async fn keep_lease<F: RevocationFollower>(
    client: Client,
    follower: Arc<F>,
    name: String,
    mut position: watch::Receiver<Option<FeedPosition>>,
    signals: Arc<Signals>,
) {
    let id = uuid::Uuid::new_v4().to_string();
    let mut lease = Duration::from_millis(250);
    let mut behind_since: Option<Instant> = None;
    let mut renewed_at: Option<Instant> = None;
    loop {
        let changed = match tokio::time::timeout(lease / 5, position.changed()).await {
            Ok(Err(_)) => return,
            Ok(Ok(())) => true,
            Err(_) => false,
        };
        let Some(at) = position.borrow_and_update().clone() else {
            behind_since = None;
            continue;
        };
        let limit = (lease / 2).max(Duration::from_millis(50));
        if changed && renewed_at.is_some_and(|r| r.elapsed() < lease / 5) {
            // Just applied revocations, lease renewed a moment ago: acknowledge only, so the
            // Revokes waiting for this follower hear at once (the renewal would queue behind them).
            let ack = client.acknowledge_revocations(&id, &name, &at, false);
            if let Ok(Err(error)) = tokio::time::timeout(limit, ack).await {
                if error.reason() == Reason::ResyncRequired {
                    signals.start_over.notify_one();
                }
            }
            continue;
        }
        let sent = Instant::now();
        let answer =
            tokio::time::timeout(limit, client.acknowledge_revocations(&id, &name, &at, true))
                .await;
        match answer {
            Ok(Ok(ack)) => {
                if let Some(granted) = ack.lease.and_then(|d| Duration::try_from(d).ok()) {
                    lease = granted.max(Duration::from_millis(10));
                }
                if ack.current {
                    follower.renewed(sent + lease);
                    renewed_at = Some(sent);
                    behind_since = None;
                } else if sent.duration_since(*behind_since.get_or_insert(sent)) > lease * 2 {
                    // Still behind after two leases with the stream open: it went silent.
                    warn!(
                        applied = at.sequence,
                        head = ack.head_sequence,
                        "the revocation stream fell silent; following another replica"
                    );
                    behind_since = None;
                    signals.reconnect.notify_one();
                }
            }
            Ok(Err(error)) if error.reason() == Reason::ResyncRequired => {
                warn!("the revocation feed no longer holds this follower's position (the database was restored or failed over); starting over from the head");
                behind_since = None;
                signals.start_over.notify_one();
            }
            Ok(Err(error)) => {
                debug!(
                    reason = error.wire_reason(),
                    "feed acknowledgement failed; the lease runs out by itself"
                )
            }
            Err(_) => debug!("feed acknowledgement timed out; the lease runs out by itself"),
        }
    }
}
