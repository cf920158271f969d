//! The client against the real thing: `tessera dev` (real PostgreSQL, real gRPC on loopback),
//! over plaintext and over TLS with a private CA, and the tower layer protecting an example axum
//! service and an example tonic service. The retry, fail-over and resync rules run against a
//! stub server (`offline`), since they need answers a healthy Tessera never gives.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod live {
    pub mod calls;
    pub mod failover;
    pub mod layer;
    pub mod offline;
    pub mod stub;
    pub mod tls;
}
