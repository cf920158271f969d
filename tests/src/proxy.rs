//! A TCP proxy to PostgreSQL that can be cut without closing anything: the network partition a
//! replica meets when a switch or a firewall drops its packets. While frozen it accepts
//! connections and keeps every socket open, but forwards nothing in either direction, so the
//! replica's queries hang rather than fail.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, UnixStream},
    sync::watch,
    task::JoinHandle,
};

/// A running proxy; dropping it stops accepting (open connections end with the test runtime).
pub struct FreezableProxy {
    /// Where it listens, `127.0.0.1:<port>`.
    pub addr: SocketAddr,
    frozen: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl FreezableProxy {
    /// Listens on a free loopback port and forwards each connection to PostgreSQL's Unix socket
    /// `<socket_dir>/.s.PGSQL.<port>`.
    pub async fn start(socket_dir: &Path, port: u16) -> anyhow::Result<FreezableProxy> {
        let socket = socket_dir.join(format!(".s.PGSQL.{port}"));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (frozen, _) = watch::channel(false);
        let gate = frozen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                tokio::spawn(relay(client, socket.clone(), gate.subscribe()));
            }
        });
        Ok(FreezableProxy {
            addr,
            frozen,
            accept,
        })
    }

    /// Stops forwarding; every socket stays open.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Forwards again.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }

    /// A PostgreSQL URL through the proxy for `user` and `database`.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!(
            "postgres://{user}@{}:{}/{database}",
            self.addr.ip(),
            self.addr.port()
        )
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(client: tokio::net::TcpStream, socket: PathBuf, gate: watch::Receiver<bool>) {
    let Ok(server) = UnixStream::connect(&socket).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, gate.clone()),
        pump(server_read, client_write, gate),
    );
}

/// Copies `from` to `to`, holding every chunk while the gate is frozen.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut gate: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if gate.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if gate.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
