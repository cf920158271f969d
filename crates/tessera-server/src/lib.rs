//! Tessera's server: the tonic services (thin adapters over the authority), the one error table,
//! caller authentication, the decision cache, the password-hashing pool, configuration and wiring,
//! plus the `tessera` binary's commands (serve, dev, migrate, user add).
//!
//! This is the only crate that sees both the wire (`tessera-proto`) and the store
//! (`tessera-store`); the domain rules themselves live in `tessera-core`.

pub mod bootstrap;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod dev;
pub mod dev_edges;
pub mod drain;
pub mod error;
pub mod grpc;
pub mod hash_pool;
pub mod health_probe;
pub mod master;
pub mod observability;
pub mod remote;
pub mod server;
pub mod service;
pub mod session;
pub mod settings;
pub mod static_tokens;
pub mod sweeper;
pub mod tls;
