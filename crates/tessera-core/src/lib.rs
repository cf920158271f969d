//! Tessera's domain, free of I/O: the token format and its hash, TTLs, namespaces, permissions,
//! roles, passwords, TOTP, JWT signing and verification, sealing of secrets at rest, and the rule
//! that a child token never exceeds its parent.
//!
//! Everything here is pure and deterministic given its inputs (time comes in through
//! [`clock::Clock`]), so the rules are unit-tested without a database or a network.

pub mod clock;
pub mod grant;
pub mod jwt;
pub mod namespace;
pub mod password;
pub mod permission;
pub mod role;
pub mod seal;
pub mod text;
pub mod token;
pub mod totp;
pub mod ttl;

#[cfg(test)]
mod fuzz_grammars;
