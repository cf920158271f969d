//! The in-process test server, shared with the CLI suites (tessera-harness).

pub use tessera_harness::server::*;
