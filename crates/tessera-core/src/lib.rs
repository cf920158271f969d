//! Tessera's cryptography and server-side domain: passwords (argon2id), TOTP, JWT signing and
//! verification, sealing of secrets at rest, and the injectable clock.
//!
//! The rules every side shares (token grammar and hash, namespaces, permissions, roles, TTLs,
//! grants, the admission decision) live in `tessera-rules`, which clients import without pulling
//! in this crate's crypto. Everything here is pure and deterministic given its inputs (time comes
//! in through [`clock::Clock`]), so it is unit-tested without a database or a network.
//!
//! Must not import: any I/O crate (`tessera-store`, `tessera-server`), nor any client or edge.

pub mod clock;
pub mod jwt;
pub mod password;
pub mod seal;
pub mod totp;
