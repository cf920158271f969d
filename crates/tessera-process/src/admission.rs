//! Which accepted connections a listener takes on: a cap on connections served at once and a cap
//! per source address on connections that have not yet shown they are real clients (finished the
//! TLS handshake and sent a first request, an HTTP/2 preface or an `AUTH`). A connection over
//! either cap is refused at once rather than left waiting in the kernel's accept queue, so a flood
//! of silent or slow connections from one address cannot shut out clients from other addresses.
//!
//! Every listener (the gRPC port, the HTTP edge, the line edge) admits through this one
//! [`ListenerAdmission`]; each decides for itself what "shown" means and how a refusal is answered.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

/// A connection just accepted, with the admission's verdict on it.
pub type Accepted = (
    TcpStream,
    SocketAddr,
    Result<AdmittedConnection, ConnectionRefusal>,
);

/// The two caps of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one source address may hold before they have shown they are real clients.
    pub max_pending_per_source: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefusal {
    /// Its source address already holds its cap of connections not yet shown to be clients.
    SourceBusy,
    /// Every connection slot is taken.
    Full,
}

impl ConnectionRefusal {
    /// A metric label and log word: `source_busy` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionRefusal::SourceBusy => "source_busy",
            ConnectionRefusal::Full => "full",
        }
    }
}

/// The admission control of one listener; clones share the counts.
#[derive(Debug, Clone)]
pub struct ListenerAdmission {
    limits: AdmissionLimits,
    slots: Arc<Semaphore>,
    pending: Arc<PendingBySource>,
}

/// Connections per source address not yet shown to be clients.
#[derive(Debug, Default)]
struct PendingBySource {
    by_source: Mutex<HashMap<IpAddr, usize>>,
}

/// An admitted connection's hold on the listener: its connection slot, held for its whole life,
/// and its place among its source's pending connections, given back with [`AdmittedConnection::shown`] (or
/// when the connection ends, whichever is first).
#[derive(Debug)]
pub struct AdmittedConnection {
    /// The connection slot; dropping it frees the slot.
    pub slot: OwnedSemaphorePermit,
    /// The place among the source's pending connections.
    pub pending: PendingSlot,
}

/// One connection's place among its source's pending connections; freed when dropped.
#[derive(Debug)]
pub struct PendingSlot {
    table: Arc<PendingBySource>,
    source: IpAddr,
}

impl ListenerAdmission {
    /// ListenerAdmission with these caps (each at least 1).
    pub fn new(limits: AdmissionLimits) -> ListenerAdmission {
        ListenerAdmission {
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            pending: Arc::default(),
        }
    }

    /// The caps.
    pub fn limits(&self) -> AdmissionLimits {
        self.limits
    }

    /// Takes a slot for a connection from `source`, or says at once why not. Never waits.
    pub fn admit(&self, source: IpAddr) -> Result<AdmittedConnection, ConnectionRefusal> {
        let pending = self
            .pending
            .enter(source, self.limits.max_pending_per_source)?;
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ConnectionRefusal::Full)?;
        Ok(AdmittedConnection { slot, pending })
    }

    /// Accepts the next connection on `listener` (Nagle off) and admits it or says why not,
    /// logging a refusal with the peer's address only (debug for a busy source, warn when every
    /// slot is taken). Failed accepts (out of file descriptors and the like) are logged and
    /// retried after a pause instead of spinning. Cancel-safe.
    pub async fn accept(&self, listener: &TcpListener) -> Accepted {
        let (stream, peer) = loop {
            match listener.accept().await {
                Ok(accepted) => break accepted,
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let admitted = self.admit(peer.ip());
        match admitted {
            Err(ConnectionRefusal::SourceBusy) => debug!(
                %peer,
                limit = self.limits.max_pending_per_source,
                "too many connections from this source not yet past their opening; refused"
            ),
            Err(ConnectionRefusal::Full) => warn!(
                %peer,
                limit = self.limits.max_connections,
                "connection limit reached; refused"
            ),
            Ok(_) => {}
        }
        (stream, peer, admitted)
    }

    /// Connections holding a slot now.
    pub fn open(&self) -> usize {
        self.limits.max_connections - self.slots.available_permits()
    }

    /// Resolves once every admitted connection has ended.
    pub async fn all_closed(&self) {
        let all = u32::try_from(self.limits.max_connections).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
    }
}

impl AdmittedConnection {
    /// The connection has shown it is a real client: it no longer counts against its source's
    /// pending cap. Returns the slot, to hold for the rest of the connection.
    pub fn shown(self) -> OwnedSemaphorePermit {
        self.slot
    }
}

impl PendingBySource {
    fn enter(
        self: &Arc<Self>,
        source: IpAddr,
        limit: usize,
    ) -> Result<PendingSlot, ConnectionRefusal> {
        let mut by_source = self.by_source.lock().unwrap_or_else(|p| p.into_inner());
        let count = by_source.entry(source).or_insert(0);
        if *count >= limit {
            return Err(ConnectionRefusal::SourceBusy);
        }
        *count += 1;
        Ok(PendingSlot {
            table: Arc::clone(self),
            source,
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut by_source = self
            .table
            .by_source
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = by_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                by_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn one_source_over_its_cap_does_not_shut_out_another() {
        let admission = ListenerAdmission::new(AdmissionLimits {
            max_connections: 4,
            max_pending_per_source: 2,
        });
        let first = admission.admit(source(2)).expect("first");
        let _second = admission.admit(source(2)).expect("second");
        assert_eq!(
            admission.admit(source(2)).unwrap_err(),
            ConnectionRefusal::SourceBusy
        );
        let _other = admission.admit(source(1)).expect("another source");
        // Shown connections keep their slot but free their source's place.
        let _kept = first.shown();
        let _third = admission.admit(source(2)).expect("room again");
        assert_eq!(admission.open(), 4);
        assert_eq!(
            admission.admit(source(3)).unwrap_err(),
            ConnectionRefusal::Full
        );
    }

    #[test]
    fn an_ended_connection_frees_both_places() {
        let admission = ListenerAdmission::new(AdmissionLimits {
            max_connections: 1,
            max_pending_per_source: 1,
        });
        drop(admission.admit(source(2)).expect("first"));
        assert_eq!(admission.open(), 0);
        let _again = admission.admit(source(2)).expect("admitted again");
    }
}
