//! The documented maximum of every string field of `auth.proto` and `admin.proto`, and of the
//! lists they carry. Every side reads them from here: the server checks requests against them
//! before any hashing or database work, the edges refuse what the server would refuse, and the
//! proto comments and the README repeat the same numbers (the contract's tests hold them equal).
//!
//! Lengths are in bytes of UTF-8. Adding a bound is a change here plus the place that raises it.

/// Login names (the same limit account creation enforces).
pub const USERNAME: usize = 64;
/// Passwords (argon2 hashes any length; this bounds the work and the request).
pub const PASSWORD: usize = 1024;
/// TOTP codes (six digits; room for spaces a user may type).
pub const TOTP_CODE: usize = 16;
/// TTLs such as `1h30m`.
pub const TTL: usize = 32;
/// A token presented as a value or as the bearer (opaque tokens are 57 bytes; JWTs well under).
pub const TOKEN: usize = 4096;
/// Token, session and account ids (UUIDs are 36 bytes).
pub const ID: usize = 64;
/// Revoke reasons.
pub const REASON: usize = 512;
/// Token descriptions.
pub const DESCRIPTION: usize = 512;
/// Namespaces.
pub const NAMESPACE: usize = 512;
/// Each identifier of CheckNamespace (and of an edge's namespace rule).
pub const IDENTIFIER: usize = 512;
/// Identifiers per CheckNamespace call.
pub const IDENTIFIERS: usize = 1000;
/// Each permission name (or CheckNamespace action).
pub const PERMISSION: usize = 64;
/// Permissions per token.
pub const PERMISSIONS: usize = 64;
/// Display names.
pub const DISPLAY_NAME: usize = 128;
/// Role names.
pub const ROLE: usize = 32;
/// Page tokens (as handed out by the previous page).
pub const PAGE_TOKEN: usize = 128;
/// TOTP secrets in base32.
pub const TOTP_SECRET: usize = 128;
/// Audit action filters.
pub const AUDIT_ACTION: usize = 64;
/// A revocation feed anchor (`after_anchor`, `applied_anchor`).
pub const ANCHOR: usize = 128;
/// A feed follower's name.
pub const FOLLOWER_NAME: usize = 128;
/// Token ids revoked in one call.
pub const REVOKE_IDS: usize = 1000;
/// Entries per page of a listing.
pub const PAGE: u32 = 500;
