//! One connection to the upstream line service, and the routing of its replies.
//!
//! Each client connection owns at most one [`Link`], so the upstream sees that client's commands
//! in the order they were sent. Every command goes upstream under a request id the edge generates
//! (`e1`, `e2`, … per link), never the client's, so no client can choose an id that collides with
//! another command's or with a reply word. The upstream (ztick) answers one command at a time, in
//! order, so a reply must carry exactly the id of the oldest command still owed an answer; a
//! single reply must read `<id> OK…` or `<id> ERROR…`, and a list ends with exactly `<id> OK` or
//! `<id> ERROR` (an item line always has more after the id: a job named `OK` cannot end a list).
//! Anything else is a desync: the link is dropped, every command in flight is failed with
//! `<id> ERROR upstream_desync …`, and the next command connects afresh.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::codec::LineReader;
use crate::config::UpstreamSettings;
use crate::grammar::Dialect;
use crate::rules::ReplyShape;
use crate::BoxedIo;

/// Reply lines buffered per command before the upstream reader waits for the client.
const ROUTE_BUFFER: usize = 64;

/// Why no upstream connection could be made.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// TCP connect failed.
    #[error("cannot connect to upstream {address}: {source}")]
    Connect {
        /// The upstream.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// TCP connect, TLS handshake or AUTH took too long.
    #[error("upstream {address} did not answer in time")]
    Timeout {
        /// The upstream.
        address: String,
    },
    /// TLS handshake failed.
    #[error("tls handshake with upstream {address} failed: {source}")]
    Tls {
        /// The upstream.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The upstream did not accept the configured AUTH secret.
    #[error("upstream {address} refused the AUTH secret")]
    AuthRefused {
        /// The upstream.
        address: String,
    },
}

/// One routed reply line, its upstream request id removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteEvent {
    /// A list item: the text after `<id> `.
    Item(Vec<u8>),
    /// The last line of the reply: the text after `<id> ` (`OK…` or `ERROR…`).
    End(Vec<u8>),
    /// The upstream sent a line the edge could not match: the link is being reset.
    Desync,
}

/// Splits a reply line into its request id and the rest (`None` without a space after the id).
pub fn split_reply(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = line.iter().position(|&b| b == b' ')?;
    Some((&line[..space], &line[space + 1..]))
}

/// Whether a single reply's text (after the id) has the status the protocol promises.
pub fn is_status(rest: &[u8]) -> bool {
    [&b"OK"[..], b"ERROR"]
        .iter()
        .any(|status| rest == *status || rest.starts_with(&[*status, b" "].concat()))
}

/// Whether a list reply's text (after the id) is the list's terminal line.
pub fn ends_list(rest: &[u8]) -> bool {
    rest == b"OK" || rest == b"ERROR"
}

/// The item id (first word) of a list item's text.
pub fn item_id(rest: &[u8]) -> Option<&str> {
    rest.split(|&b| b == b' ')
        .next()
        .and_then(|id| std::str::from_utf8(id).ok())
}

#[derive(Debug)]
struct Route {
    upstream_id: String,
    shape: ReplyShape,
    lines: mpsc::Sender<RouteEvent>,
}

/// What to do with one reply line.
#[derive(Debug)]
enum Dispatch {
    /// Hand the event to this route.
    Deliver(mpsc::Sender<RouteEvent>, RouteEvent),
    /// The line matches nothing owed: reset the link.
    Desync,
}

/// Open routes of one upstream connection, in command order.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    closed: bool,
    next_id: u64,
    pending: VecDeque<Route>,
}

impl Routes {
    /// A fresh upstream request id.
    fn generate_id(&mut self) -> String {
        self.next_id += 1;
        format!("e{}", self.next_id)
    }

    /// Registers a route under a fresh id; `None` once the connection is gone.
    fn open(&mut self, shape: ReplyShape) -> Option<(String, mpsc::Receiver<RouteEvent>)> {
        if self.closed {
            return None;
        }
        let upstream_id = self.generate_id();
        let (lines, receiver) = mpsc::channel(ROUTE_BUFFER);
        self.pending.push_back(Route {
            upstream_id: upstream_id.clone(),
            shape,
            lines,
        });
        Some((upstream_id, receiver))
    }

    /// Matches a reply line against the oldest owed reply, retiring it on its last line.
    fn dispatch(&mut self, line: &[u8]) -> Dispatch {
        let Some(((id, rest), head)) = split_reply(line).zip(self.pending.front()) else {
            return Dispatch::Desync;
        };
        if id != head.upstream_id.as_bytes() {
            return Dispatch::Desync;
        }
        let event = match head.shape {
            ReplyShape::Single if is_status(rest) => RouteEvent::End(rest.to_vec()),
            ReplyShape::Single => return Dispatch::Desync,
            ReplyShape::List if ends_list(rest) => RouteEvent::End(rest.to_vec()),
            ReplyShape::List => RouteEvent::Item(rest.to_vec()),
        };
        let sender = if matches!(event, RouteEvent::End(_)) {
            self.pending.pop_front().map(|route| route.lines)
        } else {
            Some(head.lines.clone())
        };
        match sender {
            Some(sender) => Dispatch::Deliver(sender, event),
            None => Dispatch::Desync,
        }
    }

    /// Fails every owed reply as a desync and refuses new ones.
    fn desync(&mut self) {
        for route in self.pending.drain(..) {
            let _ = route.lines.try_send(RouteEvent::Desync);
        }
        self.close();
    }

    fn close(&mut self) {
        self.closed = true;
        self.pending.clear();
    }
}

fn lock(routes: &Mutex<Routes>) -> MutexGuard<'_, Routes> {
    routes
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens upstream connections.
#[derive(Debug, Clone)]
pub struct Connector {
    settings: UpstreamSettings,
    timeout: Duration,
    max_reply_line: usize,
    dialect: Dialect,
}

impl Connector {
    /// A connector for the configured upstream, speaking `dialect` (for its AUTH line).
    pub fn new(
        settings: UpstreamSettings,
        timeout: Duration,
        max_reply_line: usize,
        dialect: Dialect,
    ) -> Self {
        Self {
            settings,
            timeout,
            max_reply_line,
            dialect,
        }
    }

    /// The upstream address, for logs.
    pub fn address(&self) -> &str {
        &self.settings.address
    }

    /// Connects (TCP, then TLS and AUTH when configured) within the upstream timeout.
    pub async fn connect(&self) -> Result<Link, UpstreamError> {
        let address = self.settings.address.clone();
        let timeout_error = || UpstreamError::Timeout {
            address: address.clone(),
        };
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&address))
            .await
            .map_err(|_| timeout_error())?
            .map_err(|source| UpstreamError::Connect {
                address: address.clone(),
                source,
            })?;
        // Nagle would hold back each short command behind the previous one's ACK.
        let _ = tcp.set_nodelay(true);
        let io: BoxedIo = match &self.settings.tls {
            None => Box::new(tcp),
            Some((config, name)) => {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let handshake = connector.connect(name.clone(), tcp);
                let stream = tokio::time::timeout(self.timeout, handshake)
                    .await
                    .map_err(|_| timeout_error())?
                    .map_err(|source| UpstreamError::Tls {
                        address: address.clone(),
                        source,
                    })?;
                Box::new(stream)
            }
        };
        let (read, mut writer) = tokio::io::split(io);
        let mut lines = LineReader::new(read, self.max_reply_line);
        if let Some(secret) = &self.settings.auth {
            let exchange = async {
                // Quoted by the upstream's grammar, so a secret with a space stays one token.
                let mut hello =
                    zeroize::Zeroizing::new(self.dialect.serialize(&["AUTH", secret.expose()]));
                hello.push(b'\n');
                writer.write_all(&hello).await?;
                writer.flush().await?;
                lines.read_line().await.map_err(std::io::Error::other)
            };
            let answer = tokio::time::timeout(self.timeout, exchange)
                .await
                .map_err(|_| timeout_error())?;
            let accepted = matches!(&answer, Ok(Some(line)) if line == b"OK");
            if !accepted {
                warn!(upstream = %address, "upstream refused the AUTH secret");
                return Err(UpstreamError::AuthRefused { address });
            }
        }
        debug!(upstream = %address, "upstream connected");
        let routes = Arc::new(Mutex::new(Routes::default()));
        let reader = tokio::spawn(read_replies(lines, routes.clone(), address));
        Ok(Link {
            writer,
            routes,
            reader,
            timeout: self.timeout,
        })
    }
}

async fn read_replies(
    mut lines: LineReader<ReadHalf<BoxedIo>>,
    routes: Arc<Mutex<Routes>>,
    address: String,
) {
    loop {
        match lines.read_line().await {
            Ok(Some(line)) => {
                let dispatch = lock(&routes).dispatch(&line);
                match dispatch {
                    // A relay that gave up on this command has dropped its receiver; the line
                    // still retired the route above, so later replies stay matched.
                    Dispatch::Deliver(route, event) => drop(route.send(event).await),
                    Dispatch::Desync => {
                        warn!(upstream = %address, "upstream reply matches no command in flight; resetting the link");
                        lock(&routes).desync();
                        return;
                    }
                }
            }
            Ok(None) => {
                info!(upstream = %address, "upstream closed the connection");
                break;
            }
            Err(error) => {
                warn!(upstream = %address, %error, "upstream connection failed");
                break;
            }
        }
    }
    lock(&routes).close();
}

/// A live upstream connection.
pub struct Link {
    writer: WriteHalf<BoxedIo>,
    routes: Arc<Mutex<Routes>>,
    reader: JoinHandle<()>,
    timeout: Duration,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Whether the upstream is still connected, as far as the reader knows.
    pub fn is_open(&self) -> bool {
        !lock(&self.routes).closed
    }

    /// Registers the reply a command is about to be owed, under a fresh upstream request id;
    /// `None` once the connection is gone.
    pub fn expect(&self, shape: ReplyShape) -> Option<(String, mpsc::Receiver<RouteEvent>)> {
        lock(&self.routes).open(shape)
    }

    /// A fresh upstream request id for a command that is owed no reply.
    pub fn unrouted_id(&self) -> String {
        lock(&self.routes).generate_id()
    }

    /// Writes one command line (the terminator is added), within the upstream timeout.
    pub async fn send(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut framed = Vec::with_capacity(line.len() + 1);
        framed.extend_from_slice(line);
        framed.push(b'\n');
        let limit = self.timeout;
        let write = async {
            self.writer.write_all(&framed).await?;
            self.writer.flush().await
        };
        match tokio::time::timeout(limit, write).await {
            Ok(result) => result,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
        lock(&self.routes).close();
    }
}

#[cfg(test)]
mod tests;
