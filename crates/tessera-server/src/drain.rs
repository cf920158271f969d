//! Draining on SIGTERM: the replica first reports NOT_SERVING, ends its long-lived
//! WatchRevocations streams with UNAVAILABLE (so watchers reconnect to another replica at once
//! instead of hanging on a dying one), stops accepting connections, and lets in-flight unary calls
//! finish within the grace period.

use std::{pin::Pin, time::Duration};

use futures::{Stream, StreamExt};
use tokio::sync::watch;

/// The message a drained stream ends with; watchers read UNAVAILABLE and reconnect elsewhere.
pub const DRAIN_MESSAGE: &str = "this replica is shutting down; reconnect to another replica";

/// The default `--shutdown-grace`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Whether the server is draining; cheap to clone, shared by everything that must react.
#[derive(Clone)]
pub struct Drain {
    started: watch::Sender<bool>,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    /// A drain that has not started.
    pub fn new() -> Drain {
        let (started, _) = watch::channel(false);
        Drain { started }
    }

    /// Starts draining (idempotent).
    pub fn start(&self) {
        self.started.send_replace(true);
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        *self.started.borrow()
    }

    /// Resolves once draining starts (at once if it already has).
    pub fn started(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut seen = self.started.subscribe();
        async move {
            // The sender lives as long as any `Drain`; if every one is gone nothing will drain.
            if seen.wait_for(|started| *started).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// `stream` until draining starts; then one last `Err(on_drain())` and the end.
    pub fn until_drained<T, E, S>(
        &self,
        stream: S,
        on_drain: impl FnOnce() -> E + Send + 'static,
    ) -> Pin<Box<dyn Stream<Item = Result<T, E>> + Send>>
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let started = self.started();
        Box::pin(async_stream::stream! {
            let mut stream = std::pin::pin!(stream);
            let mut started = std::pin::pin!(started);
            loop {
                tokio::select! {
                    biased;
                    () = &mut started => {
                        yield Err(on_drain());
                        break;
                    }
                    item = stream.next() => match item {
                        Some(item) => yield item,
                        None => break,
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_ends_with_the_drain_error_once_draining_starts() {
        let drain = Drain::new();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<u32, &'static str>>();
        let mut stream = drain.until_drained(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
            || "draining",
        );
        tx.send(Ok(1)).unwrap();
        assert_eq!(stream.next().await, Some(Ok(1)));
        drain.start();
        assert!(drain.is_draining());
        assert_eq!(stream.next().await, Some(Err("draining")));
        assert_eq!(stream.next().await, None);
        // Started before the stream was made: it ends at once.
        let late = drain.until_drained(futures::stream::pending::<Result<u32, &str>>(), || "late");
        assert_eq!(late.collect::<Vec<_>>().await, vec![Err("late")]);
    }

    #[tokio::test]
    async fn a_stream_that_ends_by_itself_gets_no_drain_error() {
        let drain = Drain::new();
        let stream = drain.until_drained(futures::stream::iter([Ok::<u32, &str>(7)]), || "x");
        assert_eq!(stream.collect::<Vec<_>>().await, vec![Ok(7)]);
    }
}
