//! tessera-edge-http's integration tests, linked into one binary: each module is one suite against
//! the real edge binary, a real Tessera and real peers (nginx, Caddy, Envoy, Chromium), and linking a
//! binary per suite cost more than running them on a small machine. Pick a suite with its module
//! path, e.g. `cargo test -p tessera-edge-http --test http front_proxies::`.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod support;

mod browser;
mod decision_cache;
mod edge;
mod envoy;
mod front_proxies;
mod fuzz_inputs;
mod limits;
mod namespace_rules;
mod oauth;
mod oauth_counterparts;
mod rotation;
mod sessions;
mod trust_boundaries;
