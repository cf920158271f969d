//! Process plumbing every Tessera binary shares (the server, both edges), each room small and
//! about one thing, in the manner of linkerd's `signal` and `rustls` crates:
//!
//! * [`admission`]: which accepted connections a listener takes on (a global cap, and a cap per
//!   source address on connections not yet shown to be real clients), refusing at once;
//! * [`signal`]: the future that resolves when the process is asked to stop;
//! * [`ready`]: the ready file a supervisor or test waits for, written atomically;
//! * [`tls`]: a serving certificate that reloads on SIGHUP and when its files change (so every
//!   listener rotates certificates without a restart or a dropped connection), the rustls
//!   configurations built on it, and the `--tls-cert`/`--tls-key` flag group.
//!
//! Must not import any other Tessera crate, nor know what the binaries serve.

pub mod admission;
pub mod ready;
pub mod signal;
pub mod tls;
