//! `tessera-edge-line` puts Tessera in front of a newline-delimited TCP service (such as the job
//! scheduler) so that service needs no auth code of its own: the edge authenticates each
//! connection with `AUTH <secret>`, parses every command with the upstream's own grammar (ztick's
//! by default), checks its identifiers against the token's namespace, forwards a canonical
//! re-serialisation under a request id of its own, and filters list replies down to that
//! namespace. It never forwards bytes it did not parse.
//!
//! The crate owns the line codec, the upstream grammar, the command rules, the per-connection state machine, the reply
//! relay and the listener. It talks to Tessera only over the wire contract (`tessera-proto`), and
//! borrows from `tessera-core` only pure rules (the namespace match, the token hash the revocation
//! feed publishes): it must not import the server, the store or any database code.

pub mod codec;
pub mod config;
pub mod demo;
pub mod grammar;
pub mod metrics;
pub mod relay;
pub mod reply;
pub mod revocations;
pub mod rules;
pub mod server;
pub mod session;
pub mod tessera;
pub mod upstream;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream the edge can serve or forward over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxedIo = Box<dyn Io>;
