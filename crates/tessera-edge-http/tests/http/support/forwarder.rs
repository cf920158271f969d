//! A TCP forwarder between the edge and Tessera, so a test can make Tessera unreachable for the
//! edge (and reachable again) without stopping the Tessera other tests share.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// A running forwarder.
pub struct Forwarder {
    /// Where the edge connects.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

impl Forwarder {
    /// Forwards `addr` (port 0 for any) to `target`.
    pub fn start(addr: SocketAddr, target: SocketAddr) -> Forwarder {
        let listener = listen(addr).expect("forwarder listen");
        let addr = listener.local_addr().expect("addr");
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut relays = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        relays.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                }
            }
            // Dropping the set aborts every relay: established connections break too.
            relays.abort_all();
        });
        Forwarder {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Stops listening and cuts every relayed connection.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
