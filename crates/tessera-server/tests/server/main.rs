//! tessera-server's integration tests, linked into one binary: each module is one suite (a real
//! Tessera over real gRPC against a real PostgreSQL, or the real `tessera` binary), and linking a
//! binary per suite cost more than running them on a small machine. Pick a suite with its module
//! path, e.g. `cargo test -p tessera-server --test server revoke::`.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod common;

mod batch;
mod connections;
mod inputs;
mod invariant;
mod jwt;
mod login;
mod metrics;
mod one_decision;
mod outage;
mod ranks;
mod retention;
mod revoke;
mod tokens;
mod uses;
mod watch;
