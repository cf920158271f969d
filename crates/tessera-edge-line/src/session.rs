//! One client connection: AUTH, then check and forward each command.
//!
//! The first line must be `AUTH <secret>` and arrive complete before the AUTH deadline (bytes
//! dripping in slowly do not extend it). The secret is introspected once, using one use of a
//! limited-use token. After `OK`, every line is parsed with the upstream's grammar and planned by
//! the rules, checked with `CheckNamespace` (so a revoked token is noticed on its next command),
//! and either refused by the edge or re-serialised and forwarded on the connection's own upstream
//! link under an upstream request id of the edge's choosing. Replies are written by the
//! [`Relay`](crate::relay::Relay) in command order.

use std::ops::ControlFlow;
use std::sync::Arc;
use tracing::Instrument as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::codec::{LineError, LineReader};
use crate::config::{Limits, Secret};
use crate::relay::{Relay, Slot};
use crate::reply::{EdgeReply, TesseraFailure};
use crate::rules::{ForwardPlan, Plan, Rules};
use crate::tessera::{ConnectionGrant, LineAuthority, Verdict};
use crate::upstream::{Connector, Link};
use crate::BoxedIo;

/// Everything a connection needs, shared by all of them.
#[derive(Debug)]
pub struct EdgeContext {
    /// The command grammar.
    pub rules: Rules,
    /// Tessera.
    pub authority: LineAuthority,
    /// The upstream.
    pub upstream: Connector,
    /// Limits.
    pub limits: Limits,
    /// Connection and command series.
    pub metrics: crate::metrics::LineMetrics,
}

/// What the first line of a connection says.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthLine {
    /// `AUTH <secret>`.
    Secret(String),
    /// `AUTH` with nothing after it.
    EmptySecret,
    /// Anything else.
    NotAuth,
}

/// Reads the first line: `AUTH` (any case), a space, and the secret as the rest of the line.
pub fn parse_auth_line(line: &[u8]) -> AuthLine {
    let Ok(text) = std::str::from_utf8(line) else {
        return AuthLine::NotAuth;
    };
    let text = text.trim();
    let (word, rest) = text.split_once([' ', '\t']).unwrap_or((text, ""));
    if !word.eq_ignore_ascii_case("AUTH") {
        return AuthLine::NotAuth;
    }
    match rest.trim() {
        "" => AuthLine::EmptySecret,
        secret => AuthLine::Secret(secret.to_owned()),
    }
}

/// The AUTH state machine's last step: Tessera's answer decides `OK` or the refusal.
pub fn auth_outcome<T>(answer: Result<Option<T>, TesseraFailure>) -> Result<T, EdgeReply> {
    match answer {
        Ok(Some(grant)) => Ok(grant),
        Ok(None) => Err(EdgeReply::AuthFailed(None)),
        Err(failure) => Err(EdgeReply::for_failure(&failure, None)),
    }
}

/// Serves one client until it leaves or is closed. `deadline` bounds the wait for a complete AUTH.
pub async fn serve(
    io: BoxedIo,
    ctx: Arc<EdgeContext>,
    deadline: Instant,
    pre_auth: tessera_process::admission::PendingSlot,
) {
    let (read, mut write) = tokio::io::split(io);
    // A CR is the upstream's byte like any other (ztick keeps it in the last token), so the
    // grammar sees it and refuses the line rather than the reader quietly dropping it.
    let mut lines = LineReader::new(read, ctx.limits.max_line).keep_carriage_returns();
    let _open = ctx.metrics.opened();
    let grant = authenticate(&mut lines, &ctx, deadline).await;
    // Authenticated or refused, the connection no longer counts against its source's cap.
    drop(pre_auth);
    let grant = match grant {
        Ok(grant) => {
            ctx.metrics.connection("authenticated");
            grant
        }
        Err(reply) => {
            ctx.metrics.connection("refused");
            if let Some(reply) = reply {
                let line = format!("{}\n", reply.line());
                let goodbye = async {
                    write.write_all(line.as_bytes()).await?;
                    write.shutdown().await
                };
                let _ = tokio::time::timeout(ctx.limits.auth_timeout, goodbye).await;
                linger(lines.into_inner()).await;
            }
            return;
        }
    };

    let (slots, queue) = mpsc::channel(ctx.limits.max_pipeline);
    let relay = Relay::new(
        write,
        ctx.authority.clone(),
        grant.clone(),
        ctx.limits.idle_timeout,
        ctx.limits.upstream_timeout,
    );
    let relay = tokio::spawn(relay.run(queue));
    let mut commands = Commands {
        ctx,
        grant,
        slots,
        link: None,
    };
    if commands.reply(EdgeReply::AuthOk).await.is_continue() {
        commands.run(&mut lines).await;
    }
    // Replies still owed are delivered before the upstream link goes: a client that sends its
    // commands and half-closes still gets every answer.
    let Commands { slots, link, .. } = commands;
    drop(slots);
    let _ = relay.await;
    drop(link);
    linger(lines.into_inner()).await;
}

/// How long, and how many bytes, the edge keeps discarding a client's input after its last reply.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// Discards what the client still sends, for a bounded time, after the edge has written its last
/// line and shut its side. Closing a socket with unread input makes the kernel send a reset, which
/// can destroy that last line (`ERROR line_too_long`, `ERROR auth_failed`…) before the client
/// reads it; draining first lets the client see it. A client that has already left ends this at
/// once.
async fn linger(mut read: ReadHalf<BoxedIo>) {
    let drain = async {
        let mut scratch = [0u8; 8192];
        let mut discarded = 0usize;
        while discarded < LINGER_BYTES {
            match read.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// Reads and checks the AUTH line. `Err(None)` means the client left without a word.
async fn authenticate(
    lines: &mut LineReader<ReadHalf<BoxedIo>>,
    ctx: &EdgeContext,
    deadline: Instant,
) -> Result<ConnectionGrant, Option<EdgeReply>> {
    let first = match tokio::time::timeout_at(deadline, lines.read_line()).await {
        Err(_) => {
            debug!("no complete AUTH line in time");
            return Err(Some(EdgeReply::AuthTimeout));
        }
        Ok(Err(LineError::TooLong { .. })) => return Err(Some(EdgeReply::LineTooLong)),
        Ok(Err(LineError::Io(_)) | Ok(None)) => return Err(None),
        Ok(Ok(Some(line))) => line,
    };
    let secret = match parse_auth_line(&first) {
        AuthLine::Secret(secret) => Secret::new(secret),
        AuthLine::EmptySecret => return Err(Some(EdgeReply::AuthFailed(None))),
        AuthLine::NotAuth => return Err(Some(EdgeReply::AuthRequired)),
    };
    match auth_outcome(ctx.authority.authenticate(&secret).await) {
        Ok(grant) => {
            info!(
                token_id = grant.token_id(),
                limited_use = grant.is_limited_use(),
                "client authenticated"
            );
            Ok(grant)
        }
        Err(reply) => {
            info!(reply = %reply.line(), "client authentication refused");
            Err(Some(reply))
        }
    }
}

/// What became of one command line: its outcome for the metrics (none for a blank line) and
/// whether the connection goes on.
struct Handled {
    outcome: Option<&'static str>,
    flow: ControlFlow<()>,
}

impl Handled {
    fn new(outcome: &'static str, flow: ControlFlow<()>) -> Handled {
        Handled {
            outcome: Some(outcome),
            flow,
        }
    }

    fn blank() -> Handled {
        Handled {
            outcome: None,
            flow: ControlFlow::Continue(()),
        }
    }
}

/// The command side of an authenticated connection.
struct Commands {
    ctx: Arc<EdgeContext>,
    grant: ConnectionGrant,
    slots: mpsc::Sender<Slot>,
    link: Option<Link>,
}

impl Commands {
    async fn run(&mut self, lines: &mut LineReader<ReadHalf<BoxedIo>>) {
        loop {
            let read = tokio::select! {
                biased;
                // The relay closed the connection (e.g. the token died during a list).
                () = self.slots.closed() => return,
                read = tokio::time::timeout(self.ctx.limits.idle_timeout, lines.read_line()) => read,
            };
            let line = match read {
                Err(_) => {
                    debug!("client idle too long");
                    let _ = self.reply(EdgeReply::IdleTimeout).await;
                    return;
                }
                Ok(Err(LineError::TooLong { max })) => {
                    info!(max, "client line too long");
                    let _ = self.reply(EdgeReply::LineTooLong).await;
                    return;
                }
                Ok(Err(LineError::Io(error))) => {
                    debug!(%error, "client read failed");
                    return;
                }
                Ok(Ok(None)) => return,
                Ok(Ok(Some(line))) => line,
            };
            // One span per command; it names no identifier and no token.
            let span = tracing::info_span!(
                "edge.line.command",
                otel.kind = "server",
                outcome = tracing::field::Empty,
            );
            let handled = self.handle(&line).instrument(span.clone()).await;
            span.record("outcome", handled.outcome);
            if let Some(outcome) = handled.outcome {
                self.ctx.metrics.command(outcome);
            }
            if handled.flow.is_break() {
                return;
            }
        }
    }

    /// Queues a line from the edge itself; breaks when it closes the connection.
    async fn reply(&mut self, reply: EdgeReply) -> ControlFlow<()> {
        let closes = reply.closes();
        if self.slots.send(Slot::Local(reply)).await.is_err() || closes {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    async fn handle(&mut self, line: &[u8]) -> Handled {
        let plan = match self.ctx.rules.plan(line) {
            Plan::Blank => return Handled::blank(),
            Plan::Invalid(why) => {
                return Handled::new("invalid", self.reply(EdgeReply::InvalidLine(why)).await)
            }
            Plan::Reauth => {
                return Handled::new("invalid", self.reply(EdgeReply::AlreadyAuthenticated).await)
            }
            Plan::Reject {
                request_id,
                rejection,
            } => {
                debug!(%request_id, reason = %rejection.reply_body(), "command refused by the rules");
                let flow = self
                    .reply(EdgeReply::Refused(request_id, rejection.reply_body()))
                    .await;
                return Handled::new("refused", flow);
            }
            Plan::Forward(plan) => plan,
        };
        let request_id = plan.request_id.clone();
        // The edge's own ids are short and bounded, so the longest one decides whether the
        // canonical form fits what the upstream reads.
        let longest = plan.upstream_line(self.ctx.rules.dialect(), &format!("e{}", u64::MAX));
        if self
            .ctx
            .rules
            .dialect()
            .upstream_max_line()
            .is_some_and(|limit| longest.len() > limit)
        {
            let flow = self.reply(EdgeReply::CommandTooLong(request_id)).await;
            return Handled::new("refused", flow);
        }
        let started = std::time::Instant::now();
        let verdict = self
            .ctx
            .authority
            .check(&self.grant, plan.identifiers.clone())
            .await;
        self.ctx.metrics.tessera_call(started.elapsed());
        match verdict {
            Ok(Verdict::Inactive) => {
                info!(%request_id, "token no longer active");
                Handled::new(
                    "unauthenticated",
                    self.reply(EdgeReply::AuthFailed(Some(request_id))).await,
                )
            }
            Ok(verdict) if !verdict.all_allowed() => {
                debug!(%request_id, "command outside the token's namespace");
                Handled::new(
                    "denied",
                    self.reply(EdgeReply::AuthDenied(request_id)).await,
                )
            }
            Ok(_) => Handled::new("forwarded", self.forward(plan).await),
            Err(failure) => {
                let outcome = match failure {
                    crate::reply::TesseraFailure::InvalidArgument { .. } => "invalid",
                    _ => "unavailable",
                };
                let flow = self
                    .reply(EdgeReply::for_failure(&failure, Some(&request_id)))
                    .await;
                Handled::new(outcome, flow)
            }
        }
    }

    /// Sends an allowed command upstream, connecting first when there is no live link.
    async fn forward(&mut self, plan: ForwardPlan) -> ControlFlow<()> {
        let request_id = plan.request_id.clone();
        let mut link = match self.link.take().filter(Link::is_open) {
            Some(link) => link,
            None => match self.ctx.upstream.connect().await {
                Ok(link) => link,
                Err(error) => {
                    warn!(%error, "upstream unavailable");
                    return self.reply(EdgeReply::UpstreamUnavailable(request_id)).await;
                }
            },
        };
        let upstream_id = match plan.expect {
            Some(expect) => {
                let Some((upstream_id, lines)) = link.expect(expect.shape) else {
                    // The upstream went away after the liveness check; the next command reconnects.
                    return self.reply(EdgeReply::UpstreamUnavailable(request_id)).await;
                };
                let slot = Slot::Upstream {
                    request_id: request_id.clone(),
                    expect,
                    lines,
                };
                if self.slots.send(slot).await.is_err() {
                    return ControlFlow::Break(());
                }
                upstream_id
            }
            None => link.unrouted_id(),
        };
        let line = plan.upstream_line(self.ctx.rules.dialect(), &upstream_id);
        if let Err(error) = link.send(&line).await {
            warn!(%error, "upstream write failed");
            // Dropping the link closes its routes: the relay answers this command's slot.
            drop(link);
            if plan.expect.is_none() {
                return self.reply(EdgeReply::UpstreamUnavailable(request_id)).await;
            }
            return ControlFlow::Continue(());
        }
        self.link = Some(link);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_must_be_auth() {
        assert_eq!(
            parse_auth_line(b"AUTH tsr_api_abc"),
            AuthLine::Secret("tsr_api_abc".into())
        );
        assert_eq!(
            parse_auth_line(b"auth  tsr_api_abc "),
            AuthLine::Secret("tsr_api_abc".into())
        );
        assert_eq!(
            parse_auth_line(b"AUTH\tstatic secret"),
            AuthLine::Secret("static secret".into())
        );
        assert_eq!(parse_auth_line(b"AUTH"), AuthLine::EmptySecret);
        assert_eq!(parse_auth_line(b"AUTH   "), AuthLine::EmptySecret);
        assert_eq!(parse_auth_line(b"1 GET deploy.a"), AuthLine::NotAuth);
        assert_eq!(parse_auth_line(b"AUTHX secret"), AuthLine::NotAuth);
        assert_eq!(parse_auth_line(b""), AuthLine::NotAuth);
        assert_eq!(parse_auth_line(b"AUTH \xff"), AuthLine::NotAuth);
    }

    #[test]
    fn tessera_decides_the_auth_outcome() {
        assert_eq!(auth_outcome(Ok(Some("tok_1"))), Ok("tok_1"));
        assert_eq!(
            auth_outcome::<()>(Ok(None)),
            Err(EdgeReply::AuthFailed(None))
        );
        let down = auth_outcome::<()>(Err(TesseraFailure::Unavailable {
            reason: "UNAVAILABLE".into(),
        }));
        assert_eq!(down, Err(EdgeReply::AuthUnavailable(None)));
        assert!(down.unwrap_err().closes());
        let malformed = auth_outcome::<()>(Err(TesseraFailure::InvalidArgument {
            field: Some("token".into()),
        }));
        assert_eq!(malformed, Err(EdgeReply::AuthFailed(None)));
    }
}
