//! `WatchRevocations`, followed for as long as the caller wants: reconnects with backoff (on the
//! next address when several are configured), resumes after the last sequence seen, and says so
//! when the server can no longer resume (`RESYNC_REQUIRED`) instead of leaving a silent gap.

use std::time::Duration;

use tessera_proto::v1::auth_service_client::AuthServiceClient;
use time::OffsetDateTime;
use tonic::Streaming;

use crate::client::Client;
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
    stream: Option<Streaming<pb::WatchRevocationsResponse>>,
    pause: Option<Duration>,
    next_pause: Duration,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("after_sequence", &self.after_sequence)
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
    ///         WatchEvent::Disconnected(e) => println!("feed down: {e}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn watch_revocations(&self, after_sequence: u64) -> RevocationFeed {
        RevocationFeed {
            client: self.clone(),
            after_sequence,
            stream: None,
            pause: None,
            next_pause: FIRST_PAUSE,
        }
    }
}

impl RevocationFeed {
    /// The last sequence seen (where a reconnect resumes).
    pub fn last_sequence(&self) -> u64 {
        self.after_sequence
    }

    /// Whether a stream is open right now.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// The next event; reconnects as needed, so it never ends.
    pub async fn next(&mut self) -> WatchEvent {
        if let Some(stream) = &mut self.stream {
            let error = match stream.message().await {
                Ok(Some(revocation)) => {
                    self.next_pause = FIRST_PAUSE;
                    self.after_sequence = self.after_sequence.max(revocation.sequence);
                    return WatchEvent::Revoked(Revocation {
                        sequence: revocation.sequence,
                        token_id: revocation.token_id,
                        token_hash: revocation.token_hash,
                        revoked_at: time_of(revocation.revoked_at.as_ref()),
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
        let message = pb::WatchRevocationsRequest {
            after_sequence: self.after_sequence,
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
        if error.reason() == Reason::ResyncRequired && self.after_sequence > 0 {
            // Start over at once: the gap is reported, not waited on.
            self.after_sequence = 0;
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
    /// The feed lost its place (`RESYNC_REQUIRED`): any revocation may have been missed, so every
    /// verdict taken from the feed so far is unknown. The feed starts over.
    fn lost_place(&self, oldest_sequence: Option<u64>);
    /// The stream broke or could not be opened; revocations can pass unseen until the next
    /// [`connected`](Self::connected).
    fn disconnected(&self, error: &Error);
}

impl Client {
    /// Follows the feed from the oldest retained revocation on a task of its own, for as long as
    /// the returned handle is not aborted, telling `follower` of every event.
    pub fn follow_revocations<F: RevocationFollower>(
        &self,
        follower: std::sync::Arc<F>,
    ) -> tokio::task::JoinHandle<()> {
        let mut feed = self.watch_revocations(0);
        tokio::spawn(async move {
            loop {
                match feed.next().await {
                    WatchEvent::Connected { after_sequence } => follower.connected(after_sequence),
                    WatchEvent::Revoked(revocation) => follower.revoked(&revocation),
                    WatchEvent::Resync { oldest_sequence } => follower.lost_place(oldest_sequence),
                    WatchEvent::Disconnected(error) => follower.disconnected(&error),
                }
            }
        })
    }
}
