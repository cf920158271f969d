//! Observability shared by Tessera's three binaries (`tessera`, `tessera-edge-http`,
//! `tessera-edge-line`): the tracing subscriber (logs as text or JSON), OpenTelemetry trace export
//! over OTLP/gRPC (off unless an endpoint is configured), W3C trace-context propagation in and out
//! of HTTP headers and gRPC metadata, a tower layer opening one server span per gRPC call, and the
//! Prometheus `/metrics` listener.
//!
//! This crate knows nothing of tokens, the store or the wire contract: it must not import
//! `tessera-core`, `tessera-store` or `tessera-proto`. What goes *into* a span is the caller's
//! business; the rule (no token, password or TOTP code in any span, attribute or log) is kept at
//! the call sites and checked end to end by the tests under `tests/`.

pub mod grpc;
pub mod metrics;
pub mod propagation;
mod subscriber;

pub use propagation::{continue_trace, extract_grpc, extract_http, inject};
pub use subscriber::{
    build, init, log_filter, run_program, LogArgs, LogFormat, LogSettings, ParentlessRule,
    SamplerSetting, Telemetry, TraceArgs, TraceSettings,
};
