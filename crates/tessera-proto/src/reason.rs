//! The one reason table: every `google.rpc.ErrorInfo` reason Tessera attaches (domain
//! [`crate::ERROR_DOMAIN`]), with the gRPC code the server answers it with and the HTTP status
//! every HTTP dialect (the edges, OAuth endpoints, ext_authz) answers it with.
//!
//! `auth.proto`'s service comment lists the same table for the other languages; the workspace's
//! reason guard (`tests/e2e/reasons.rs`) holds the two equal and every SDK to naming each reason.
//! Adding a reason is a row here plus the place that raises it.

use std::fmt;

use tonic::Code;

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident = ($wire:literal, $lower:literal, $code:ident, $http:literal),)*) => {
        /// Why a call failed: the `google.rpc.ErrorInfo` reason Tessera attached, or, when none
        /// came (a proxy or the transport failed), one derived from the gRPC code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
            /// A reason this build does not know (a newer server); the wire string is kept by
            /// [`crate::Failure::wire_reason`]. Treated as "cannot decide".
            Unknown,
        }

        impl Reason {
            /// Every reason of the table, in its order ([`Reason::Unknown`] is not one).
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The reason as Tessera writes it (`AUTH_FAILED`); `UNKNOWN` for [`Reason::Unknown`].
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $wire,)*
                    Reason::Unknown => "UNKNOWN",
                }
            }

            /// The reason in lower case (`auth_failed`), as JSON bodies and the line protocol
            /// name it.
            pub fn as_lower(self) -> &'static str {
                match self {
                    $(Reason::$variant => $lower,)*
                    Reason::Unknown => "unknown",
                }
            }

            /// Reads a reason as Tessera writes it.
            pub fn from_wire(reason: &str) -> Option<Reason> {
                match reason {
                    $($wire => Some(Reason::$variant),)*
                    _ => None,
                }
            }

            /// The gRPC code the server answers this reason with.
            pub fn code(self) -> Code {
                match self {
                    $(Reason::$variant => Code::$code,)*
                    Reason::Unknown => Code::Unknown,
                }
            }

            /// The HTTP status an HTTP dialect answers when this reason concerns the request's
            /// own credentials or input. Every reason that means "Tessera cannot decide" is 503:
            /// fail closed, never a clean "no" and never a "yes".
            pub fn http_status(self) -> u16 {
                match self {
                    $(Reason::$variant => $http,)*
                    Reason::Unknown => 503,
                }
            }
        }
    };
}

reasons! {
    /// No caller credential.
    AuthRequired = ("AUTH_REQUIRED", "auth_required", Unauthenticated, 401),
    /// The caller's token is invalid, expired, revoked or used up (not distinguished).
    AuthFailed = ("AUTH_FAILED", "auth_failed", Unauthenticated, 401),
    /// Outside the caller token's namespace or permissions.
    AuthDenied = ("AUTH_DENIED", "auth_denied", PermissionDenied, 403),
    /// Wrong username, password or TOTP code (login and unlock).
    InvalidCredentials = ("INVALID_CREDENTIALS", "invalid_credentials", Unauthenticated, 401),
    /// The account has TOTP: the code is missing.
    MfaRequired = ("MFA_REQUIRED", "mfa_required", FailedPrecondition, 401),
    /// Too many failures; the account is locked for a while.
    AccountLocked = ("ACCOUNT_LOCKED", "account_locked", ResourceExhausted, 429),
    /// A child token would be broader than its parent.
    PrivilegeExceeded = ("PRIVILEGE_EXCEEDED", "privilege_exceeded", PermissionDenied, 403),
    /// An admin action without elevation.
    ElevationRequired = ("ELEVATION_REQUIRED", "elevation_required", PermissionDenied, 403),
    /// A service token would hold more than its job needs.
    OverPrivileged = ("OVER_PRIVILEGED", "over_privileged", PermissionDenied, 403),
    /// Malformed input; metadata `field` names the field.
    InvalidArgument = ("INVALID_ARGUMENT", "invalid_argument", InvalidArgument, 400),
    /// No such user.
    UserNotFound = ("USER_NOT_FOUND", "user_not_found", NotFound, 404),
    /// The username is taken.
    UserExists = ("USER_EXISTS", "user_exists", AlreadyExists, 409),
    /// No such token.
    TokenNotFound = ("TOKEN_NOT_FOUND", "token_not_found", NotFound, 404),
    /// Tessera is overloaded, or a per-caller limit is reached.
    ResourceExhausted = ("RESOURCE_EXHAUSTED", "resource_exhausted", ResourceExhausted, 503),
    /// The revocation feed no longer holds the position a follower resumed from or
    /// acknowledged: drop every cached verdict and follow again (metadata `oldest_sequence`
    /// when the feed was pruned).
    ResyncRequired = ("RESYNC_REQUIRED", "resync_required", FailedPrecondition, 503),
    /// Tessera, its database or the network is unreachable, or a deadline passed: fail closed.
    Unavailable = ("UNAVAILABLE", "unavailable", Unavailable, 503),
    /// Tessera's own failure: it cannot decide, so fail closed.
    Internal = ("INTERNAL", "internal", Internal, 503),
}

impl Reason {
    /// The reason for a failure without `ErrorInfo`, from its gRPC code.
    pub fn from_code(code: Code) -> Reason {
        match code {
            Code::Unauthenticated => Reason::AuthFailed,
            Code::PermissionDenied => Reason::AuthDenied,
            Code::InvalidArgument => Reason::InvalidArgument,
            Code::ResourceExhausted => Reason::ResourceExhausted,
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Reason::Unavailable,
            _ => Reason::Internal,
        }
    }

    /// Tessera refused the caller's own credential or its reach (no token, a bad token, outside
    /// its namespace or permissions, broader than its parent, not elevated, over-privileged).
    /// When the caller is an edge's or a mesh's service token, that is the operator's problem:
    /// the edge logs it and fails closed instead of passing the refusal on to its client.
    pub fn refuses_caller(self) -> bool {
        matches!(
            self,
            Reason::AuthRequired
                | Reason::AuthFailed
                | Reason::AuthDenied
                | Reason::PrivilegeExceeded
                | Reason::ElevationRequired
                | Reason::OverPrivileged
        )
    }

    /// Tessera could not decide (overloaded, unreachable, its database down, its own failure, a
    /// feed to resync, a reason this build does not know): every dialect fails closed and
    /// invites a retry.
    pub fn is_undecided(self) -> bool {
        matches!(
            self,
            Reason::ResourceExhausted
                | Reason::ResyncRequired
                | Reason::Unavailable
                | Reason::Internal
                | Reason::Unknown
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_and_keeps_one_spelling() {
        for &reason in Reason::ALL {
            assert_eq!(Reason::from_wire(reason.as_str()), Some(reason));
            assert_eq!(reason.as_lower(), reason.as_str().to_ascii_lowercase());
            assert!(
                reason.is_undecided() == (reason.http_status() == 503),
                "{reason}"
            );
            assert!(
                !(reason.refuses_caller() && reason.is_undecided()),
                "{reason}"
            );
        }
        assert_eq!(Reason::from_wire("UNKNOWN"), None);
        assert!(Reason::Unknown.is_undecided());
    }
}
