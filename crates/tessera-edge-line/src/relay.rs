//! The client's writer: replies leave in the order their commands arrived.
//!
//! The session queues one [`Slot`] per command that gets a reply, in command order: either a line
//! the edge wrote itself (a refusal) or the reply route of a forwarded command. The relay works
//! through the queue, so a refusal never overtakes the reply to an earlier command, and filters
//! list replies: items are gathered into batches and checked with one `CheckNamespace` call per
//! batch, and only the allowed ones are written. An upstream that vanishes or stalls mid-reply
//! ends that reply with `<id> ERROR upstream unavailable` instead of a hang; a desync ends it with
//! `<id> ERROR upstream_desync …`. Upstream lines arrive without the edge's own request id and
//! leave with the client's.

use std::time::Duration;

use tessera_rules::namespace::validate_identifier;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::reply::EdgeReply;
use crate::rules::{ReplyExpectation, ReplyShape};
use crate::tessera::{ConnectionGrant, LineAuthority, Verdict};
use crate::upstream::{item_id, RouteEvent};

/// Most list items checked in one `CheckNamespace` call (and held in memory at once).
pub const FILTER_BATCH: usize = 512;

/// One reply owed to the client, in command order.
#[derive(Debug)]
pub enum Slot {
    /// A line from the edge itself.
    Local(EdgeReply),
    /// The reply of a forwarded command, as routed from the upstream.
    Upstream {
        /// The command's request id.
        request_id: String,
        /// Its reply shape and filtering.
        expect: ReplyExpectation,
        /// Reply lines; closed early when the upstream goes away.
        lines: mpsc::Receiver<RouteEvent>,
    },
}

enum Flow {
    Continue,
    Close,
}

/// What became of one batch of list items.
enum Batch {
    /// Allowed items written.
    Written,
    /// The token turned out inactive: `auth_failed` written, the connection must close.
    TokenInactive,
    /// Tessera could not decide: an error ends the list; the rest of it is dropped.
    Abandoned,
}

/// Writes replies to one client.
pub struct Relay<W> {
    out: BufWriter<W>,
    authority: LineAuthority,
    grant: ConnectionGrant,
    write_timeout: Duration,
    upstream_timeout: Duration,
}

impl<W: AsyncWrite + Unpin> Relay<W> {
    /// A relay writing to `out` on behalf of the client holding `grant`.
    pub fn new(
        out: W,
        authority: LineAuthority,
        grant: ConnectionGrant,
        write_timeout: Duration,
        upstream_timeout: Duration,
    ) -> Self {
        Self {
            out: BufWriter::new(out),
            authority,
            grant,
            write_timeout,
            upstream_timeout,
        }
    }

    /// Delivers slots until the session stops queueing them or a reply closes the connection,
    /// then flushes and shuts the client's write side.
    pub async fn run(mut self, mut slots: mpsc::Receiver<Slot>) {
        while let Some(slot) = slots.recv().await {
            let flow = match slot {
                Slot::Local(reply) => self.write_reply(&reply).await.map(|()| {
                    if reply.closes() {
                        Flow::Close
                    } else {
                        Flow::Continue
                    }
                }),
                Slot::Upstream {
                    request_id,
                    expect,
                    lines,
                } => match expect.shape {
                    ReplyShape::Single => self.relay_single(&request_id, lines).await,
                    ReplyShape::List => {
                        self.relay_list(&request_id, expect.filter_items, lines)
                            .await
                    }
                },
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => break,
                Err(error) => {
                    debug!(%error, "client write failed");
                    return;
                }
            }
            // Flush only when nothing else is ready, so pipelined replies share a write.
            if slots.is_empty() && within(self.write_timeout, self.out.flush()).await.is_err() {
                return;
            }
        }
        let _ = within(self.write_timeout, self.out.flush()).await;
        let _ = within(self.write_timeout, self.out.shutdown()).await;
    }

    async fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let limit = self.write_timeout;
        let write = async {
            self.out.write_all(line).await?;
            self.out.write_all(b"\n").await
        };
        within(limit, write).await
    }

    async fn write_reply(&mut self, reply: &EdgeReply) -> std::io::Result<()> {
        self.write_line(reply.line().as_bytes()).await
    }

    /// Writes an upstream reply's text under the client's request id.
    async fn write_routed(&mut self, request_id: &str, rest: &[u8]) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(request_id.len() + 1 + rest.len());
        line.extend_from_slice(request_id.as_bytes());
        line.push(b' ');
        line.extend_from_slice(rest);
        self.write_line(&line).await
    }

    /// The error for a reply that will not come.
    async fn write_lost(&mut self, request_id: &str, desync: bool) -> std::io::Result<()> {
        let request_id = request_id.to_owned();
        self.write_reply(&if desync {
            EdgeReply::UpstreamDesync(request_id)
        } else {
            EdgeReply::UpstreamUnavailable(request_id)
        })
        .await
    }

    async fn relay_single(
        &mut self,
        request_id: &str,
        mut lines: mpsc::Receiver<RouteEvent>,
    ) -> std::io::Result<Flow> {
        match next_line(self.upstream_timeout, &mut lines).await {
            Some(RouteEvent::End(rest) | RouteEvent::Item(rest)) => {
                self.write_routed(request_id, &rest).await?
            }
            Some(RouteEvent::Desync) => self.write_lost(request_id, true).await?,
            None => self.write_lost(request_id, false).await?,
        }
        Ok(Flow::Continue)
    }

    async fn relay_list(
        &mut self,
        request_id: &str,
        filter: bool,
        mut lines: mpsc::Receiver<RouteEvent>,
    ) -> std::io::Result<Flow> {
        let mut batch: Vec<Vec<u8>> = Vec::new();
        loop {
            let event = next_line(self.upstream_timeout, &mut lines).await;
            // A vanished or stalled upstream ends the list as surely as its final line.
            let last = !matches!(event, Some(RouteEvent::Item(_)));
            if last || batch.len() >= FILTER_BATCH {
                match self.write_allowed(request_id, &mut batch).await? {
                    Batch::Written => {}
                    Batch::TokenInactive => return Ok(Flow::Close),
                    // Dropping `lines` lets the upstream reader discard the rest of this list.
                    Batch::Abandoned => return Ok(Flow::Continue),
                }
            }
            match event {
                None => {
                    self.write_lost(request_id, false).await?;
                    return Ok(Flow::Continue);
                }
                Some(RouteEvent::Desync) => {
                    self.write_lost(request_id, true).await?;
                    return Ok(Flow::Continue);
                }
                Some(RouteEvent::End(rest)) => {
                    self.write_routed(request_id, &rest).await?;
                    return Ok(Flow::Continue);
                }
                Some(RouteEvent::Item(rest)) if filter => batch.push(rest),
                Some(RouteEvent::Item(rest)) => self.write_routed(request_id, &rest).await?,
            }
        }
    }

    /// Checks a batch of list items in one call and writes the allowed ones, in order. Items
    /// without an item id, or with one Tessera would refuse to judge (too long, control
    /// characters), are dropped: what cannot be checked is not shown, and one odd item does not
    /// cost the client the whole list.
    async fn write_allowed(
        &mut self,
        request_id: &str,
        batch: &mut Vec<Vec<u8>>,
    ) -> std::io::Result<Batch> {
        let items: Vec<(Vec<u8>, String)> = batch
            .drain(..)
            .filter_map(|rest| {
                let id = item_id(&rest).filter(|id| validate_identifier(id).is_ok())?;
                let id = id.to_owned();
                Some((rest, id))
            })
            .collect();
        if items.is_empty() {
            return Ok(Batch::Written);
        }
        let identifiers = items.iter().map(|(_, id)| id.clone()).collect();
        match self.authority.check(&self.grant, identifiers).await {
            Ok(Verdict::Active(decisions)) => {
                for ((rest, _), allowed) in items.iter().zip(decisions) {
                    if allowed {
                        self.write_routed(request_id, rest).await?;
                    }
                }
                Ok(Batch::Written)
            }
            Ok(Verdict::Inactive) => {
                info!("token no longer active");
                self.write_reply(&EdgeReply::AuthFailed(Some(request_id.to_owned())))
                    .await?;
                Ok(Batch::TokenInactive)
            }
            Err(failure) => {
                self.write_reply(&EdgeReply::for_failure(&failure, Some(request_id)))
                    .await?;
                Ok(Batch::Abandoned)
            }
        }
    }
}

/// Runs an I/O step, failing it with `TimedOut` past `limit`.
async fn within<T>(
    limit: Duration,
    step: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// The next routed reply line; `None` when the upstream went away or stalled past `limit`.
async fn next_line(limit: Duration, lines: &mut mpsc::Receiver<RouteEvent>) -> Option<RouteEvent> {
    tokio::time::timeout(limit, lines.recv())
        .await
        .ok()
        .flatten()
}
