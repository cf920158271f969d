//! Tessera's server as a library: the use cases (`service`, over the pure domain of
//! `tessera-core` and the store), the gRPC adapters (`grpc`: thin translations between the
//! `tessera.v1` wire types and the use cases, with the one error table in `error`), and the wiring
//! that puts them on a socket (`server`, with connection limits, TLS, draining, metrics, the decision cache, the
//! password-hashing pool and the background work beside it).
//!
//! This is the only crate that sees both the wire (`tessera-proto`) and the store
//! (`tessera-store`). It holds no command line: flags, prompts and terminal output live in
//! `tessera-cli`, which owns the `tessera` binary and hands this crate typed settings.

pub mod bootstrap;
pub mod cache;
pub mod connections;
pub mod drain;
pub mod error;
pub mod grpc;
pub mod hash_pool;
pub mod observability;
pub mod server;
pub mod service;
pub mod settings;
pub mod static_tokens;
pub mod sweeper;
pub mod tls;
pub mod write_budget;
