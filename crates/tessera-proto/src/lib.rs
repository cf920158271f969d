//! The `tessera.v1` wire contract: prost messages and tonic clients and servers generated at
//! build time from `proto/` by protox (no system `protoc`), and the rooms every side shares
//! about that wire:
//!
//! * [`Reason`]: the one reason table (wire string ↔ gRPC code ↔ HTTP status);
//! * [`Failure`]: the `google.rpc.ErrorInfo` codec, encoding on the server and decoding in the
//!   client, both edges and every dialect;
//! * [`bounds`]: the documented maximum of every field.
//!
//! Must not import any other Tessera crate: edges and clients depend on it alone.

pub mod bounds;
mod failure;
mod reason;

pub use failure::Failure;
pub use reason::Reason;

/// Generated messages and services of package `tessera.v1`.
pub mod v1 {
    #![allow(clippy::all, clippy::too_many_lines, missing_docs)]
    tonic::include_proto!("tessera.v1");
}

/// The encoded `FileDescriptorSet` of every Tessera proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tessera_descriptor.bin"));

/// The `google.rpc.ErrorInfo` domain of every Tessera error.
pub const ERROR_DOMAIN: &str = "tessera";

/// gRPC metadata by which an edge names the client it logs in (`Login` from a login page): the
/// client's IP address, counted in the server's hashing pool instead of the edge's. The server
/// takes it only from a caller whose token holds `introspect` and sees every token (a service
/// token issued by an admin); from anyone else it is ignored.
pub const CLIENT_ADDRESS_HEADER: &str = "tessera-client-address";
