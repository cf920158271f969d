//! Tessera's rules, one definition for every side: the token grammar and its hash, TTLs,
//! namespaces, permissions, roles, the rule that a child token never exceeds its parent, the
//! least-privilege judgement of a service token, and the one admission decision
//! ([`decision::decide`]: "may this token touch these identifiers with this action").
//!
//! The server's CheckNamespace, the HTTP edge, the line edge and every later dialect decide with
//! these functions, never with a copy. This crate is light on purpose (no argon2, AEAD, JWT or
//! TOTP: those stay in `tessera-core`), so the Rust client imports it.
//!
//! Must not import: any other Tessera crate but `tessera-proto` (for the field bounds of the
//! contract); no I/O.

pub mod decision;
pub mod grant;
pub mod namespace;
pub mod permission;
pub mod role;
pub mod service_token;
pub mod text;
pub mod token;
pub mod ttl;

#[cfg(test)]
mod fuzz_grammars;
