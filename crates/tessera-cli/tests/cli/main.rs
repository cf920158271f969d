//! The `tessera` binary as operators and users run it, one module per command group's suite,
//! against a real Tessera server in process (tessera-harness's `server`: a real PostgreSQL, real
//! gRPC, a manual clock). Pick a suite with its module path, e.g.
//! `cargo test -p tessera-cli --test cli cli_session::`.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod common {
    pub use tessera_harness::server::*;
}

mod cli_first_hour;
mod cli_session;
mod operator;
