//! One connection to the upstream line service, and the routing of its replies.
//!
//! Each client connection owns at most one [`Link`], so the upstream sees that client's commands
//! in the order they were sent. Before a command that expects a reply is written, the session
//! registers a route for its request id ([`Link::expect`]); a reader task hands every reply line to
//! the oldest route with that request id and drops lines nobody asked for (replies to commands the
//! rules do not name). When the upstream goes away every open route is closed, which the relay
//! turns into `<id> ERROR upstream unavailable`; the next command connects afresh.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::codec::{ascii_tokens, LineReader};
use crate::config::UpstreamSettings;
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

/// The request id (first token) of a reply line.
pub fn reply_request_id(line: &[u8]) -> Option<&[u8]> {
    ascii_tokens(line).next()
}

/// Whether a list reply line ends the list (`<id> OK …` or `<id> ERROR …`).
pub fn ends_list(line: &[u8]) -> bool {
    matches!(ascii_tokens(line).nth(1), Some(b"OK" | b"ERROR"))
}

/// The item id (second token) of a list item line.
pub fn item_id(line: &[u8]) -> Option<&str> {
    ascii_tokens(line)
        .nth(1)
        .and_then(|id| std::str::from_utf8(id).ok())
}

#[derive(Debug)]
struct Route {
    request_id: String,
    shape: ReplyShape,
    lines: mpsc::Sender<Vec<u8>>,
}

/// Open routes of one upstream connection.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    closed: bool,
    pending: VecDeque<Route>,
}

impl Routes {
    /// Registers a route; `None` once the connection is gone.
    fn open(&mut self, request_id: &str, shape: ReplyShape) -> Option<mpsc::Receiver<Vec<u8>>> {
        if self.closed {
            return None;
        }
        let (lines, receiver) = mpsc::channel(ROUTE_BUFFER);
        self.pending.push_back(Route {
            request_id: request_id.to_owned(),
            shape,
            lines,
        });
        Some(receiver)
    }

    /// Where a reply line goes: the oldest route with its request id, retired by its last line.
    fn dispatch(&mut self, line: &[u8]) -> Option<mpsc::Sender<Vec<u8>>> {
        let request_id = reply_request_id(line)?;
        let index = self
            .pending
            .iter()
            .position(|route| route.request_id.as_bytes() == request_id)?;
        let last = match self.pending[index].shape {
            ReplyShape::Single => true,
            ReplyShape::List => ends_list(line),
        };
        if last {
            self.pending.remove(index).map(|route| route.lines)
        } else {
            Some(self.pending[index].lines.clone())
        }
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
}

impl Connector {
    /// A connector for the configured upstream.
    pub fn new(settings: UpstreamSettings, timeout: Duration, max_reply_line: usize) -> Self {
        Self {
            settings,
            timeout,
            max_reply_line,
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
                let hello = zeroize::Zeroizing::new(format!("AUTH {}\n", secret.expose()));
                writer.write_all(hello.as_bytes()).await?;
                writer.flush().await?;
                lines.read_line().await.map_err(std::io::Error::other)
            };
            let answer = tokio::time::timeout(self.timeout, exchange)
                .await
                .map_err(|_| timeout_error())?;
            let accepted =
                matches!(&answer, Ok(Some(line)) if ascii_tokens(line).next() == Some(b"OK"));
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
                let target = lock(&routes).dispatch(&line);
                match target {
                    // A relay that gave up on this command has dropped its receiver; the line
                    // still retired the route above, so later replies stay matched.
                    Some(route) => drop(route.send(line).await),
                    None => debug!(upstream = %address, "dropping a reply nobody asked for"),
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

    /// Registers the reply a command is about to be owed; `None` once the connection is gone.
    pub fn expect(&self, request_id: &str, shape: ReplyShape) -> Option<mpsc::Receiver<Vec<u8>>> {
        lock(&self.routes).open(request_id, shape)
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
mod tests {
    use super::*;

    #[test]
    fn reply_lines_parse() {
        assert_eq!(reply_request_id(b"7 OK"), Some(&b"7"[..]));
        assert_eq!(reply_request_id(b"  "), None);
        assert!(ends_list(b"7 OK"));
        assert!(ends_list(b"7 ERROR no such prefix"));
        assert!(!ends_list(b"7 deploy.a run"));
        assert!(!ends_list(b"7"));
        assert_eq!(item_id(b"7 deploy.a run"), Some("deploy.a"));
        assert_eq!(item_id(b"7\tdeploy.b"), Some("deploy.b"));
        assert_eq!(item_id(b"7"), None);
        assert_eq!(item_id(b"7 \xff"), None);
    }

    #[test]
    fn replies_go_to_the_oldest_route_with_their_id() {
        let mut routes = Routes::default();
        let mut first = routes.open("1", ReplyShape::Single).expect("open");
        let mut list = routes.open("2", ReplyShape::List).expect("open");
        let mut again = routes.open("1", ReplyShape::Single).expect("open");

        for line in [
            &b"2 deploy.a x"[..],
            b"1 OK a",
            b"2 deploy.b y",
            b"1 OK b",
            b"2 OK",
        ] {
            let route = routes.dispatch(line).expect("routed");
            route.try_send(line.to_vec()).expect("room");
        }
        assert!(routes.dispatch(b"9 OK").is_none(), "nobody asked for 9");
        assert!(
            routes.dispatch(b"1 OK late").is_none(),
            "both 1s are answered"
        );
        assert!(routes.pending.is_empty());

        assert_eq!(first.try_recv().unwrap(), b"1 OK a");
        assert_eq!(again.try_recv().unwrap(), b"1 OK b");
        let items: Vec<Vec<u8>> = std::iter::from_fn(|| list.try_recv().ok()).collect();
        assert_eq!(
            items,
            vec![
                b"2 deploy.a x".to_vec(),
                b"2 deploy.b y".to_vec(),
                b"2 OK".to_vec()
            ]
        );
        // Retired routes dropped their senders: the relay sees the end.
        assert!(matches!(
            first.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn closing_ends_every_route_and_refuses_new_ones() {
        let mut routes = Routes::default();
        let mut waiting = routes.open("1", ReplyShape::List).expect("open");
        routes.close();
        assert!(matches!(
            waiting.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(routes.open("2", ReplyShape::Single).is_none());
    }
}
