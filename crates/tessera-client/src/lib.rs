//! The Rust SDK for Tessera (`tessera.v1`): one client that every Rust caller uses — the edges, the
//! `tessera` CLI and Rust services — owning the connection, TLS, the caller's bearer token,
//! deadlines, retries, fail-over between replicas and the mapping of failures to [`Reason`]s.
//!
//! ```no_run
//! use std::time::Duration;
//! use tessera_client::{Client, IssueToken, Secret};
//!
//! # async fn example() -> Result<(), tessera_client::Error> {
//! let admin = Client::builder()
//!     .addresses(["https://tessera-a:50051", "https://tessera-b:50051"])
//!     .ca_file("/etc/tessera/ca.pem")
//!     .token(Secret::new("tsr_ses_…".into()))
//!     .connect()
//!     .await?;
//! let issued = admin
//!     .issue_token(IssueToken::new(Duration::from_secs(900)).namespace("deploy."))
//!     .await?;
//! println!("issued {} until {:?}", issued.token_id, issued.expires_at);
//! # Ok(()) }
//! ```
//!
//! Failures are one type, [`Error`], whose [`Error::reason`] is the [`Reason`] Tessera attached
//! (`google.rpc.ErrorInfo`, domain `tessera`), or one derived from the gRPC code when none came.
//! Branch on the reason, never on the message.
//!
//! **Retries.** A call is repeated (with backoff, and on the next address when several are
//! configured) only when the answer was `UNAVAILABLE` and the call is safe to repeat: never a
//! use-consuming `Introspect`, `Login`, `Unlock` or `IssueToken`. Those move on to the next
//! address only when the connection could not even be established, so the request never left.
//!
//! This crate owns the client side of the wire contract. It imports only `tessera-proto` (the
//! contract: reasons, the `ErrorInfo` codec, field bounds) and `tessera-rules` (the light rules:
//! token grammar, namespaces, permissions, the admission decision) of the Tessera crates: never
//! the server, the store, or `tessera-core`'s crypto.

#![warn(missing_docs)]

mod address;
mod admin;
mod auth;
mod client;
mod connector;
mod diagnose;
mod duration;
mod error;
pub mod health;
mod identity;
#[cfg(feature = "layer")]
pub mod layer;
mod secret;
#[cfg(feature = "clap")]
mod service_args;
mod service_token;
mod transport;
mod types;
mod watch;

pub use address::{ServerAddress, ADDRESS_EXAMPLE};
pub use admin::{AuditEvent, AuditQuery, NewUser, Page, TokenInfo, TotpEnrollment, UserSummary};
pub use auth::{IssueToken, Login, RevokeTarget, Revoked, Ttl, Unlock};
pub use client::{Client, ClientBuilder, RetryPolicy};
pub use duration::parse_duration;
pub use error::{Error, Reason};
pub use secret::Secret;
#[cfg(feature = "clap")]
pub use service_args::{read_secret_file, ServiceArgs};
pub use service_token::{judge_service_token, ServiceTokenProblem};
pub use transport::{TlsFlags, TransportProblem};
pub use types::{
    IdentifierDecision, Introspection, IssuedToken, JsonWebKey, Jwks, NamespaceDecision, Session,
    TokenFormat, TokenKind, User,
};
pub use watch::{FeedPosition, Revocation, RevocationFeed, RevocationFollower, WatchEvent};

/// The generated wire types, for callers that need a field this crate does not surface yet.
pub use tessera_proto::v1 as pb;
/// The `google.rpc.ErrorInfo` domain of every Tessera error.
pub use tessera_proto::ERROR_DOMAIN;
