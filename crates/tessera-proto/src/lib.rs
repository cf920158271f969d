//! The `tessera.v1` wire contract as Rust types: prost messages and tonic clients and servers,
//! generated at build time from `proto/` by protox (no system `protoc`).
//!
//! This crate owns nothing but generated code and the encoded file descriptor set used for gRPC
//! reflection. It must not import any other Tessera crate: edges and clients depend on it alone.

/// Generated messages and services of package `tessera.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("tessera.v1");
}

/// The encoded `FileDescriptorSet` of every Tessera proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tessera_descriptor.bin"));

/// The `google.rpc.ErrorInfo` domain of every Tessera error.
pub const ERROR_DOMAIN: &str = "tessera";
