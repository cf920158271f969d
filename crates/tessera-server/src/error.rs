//! The one error table: every domain failure becomes a `tonic::Status` with a gRPC code and a
//! machine-readable reason in `google.rpc.ErrorInfo` (domain "tessera"). Clients branch on the
//! reason; the message is for people and never carries a secret.

use std::collections::HashMap;

use tessera_store::StoreError;
use thiserror::Error;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};
use tracing::error;

/// Why a request failed, in the vocabulary of the API contract (DESIGN.md §3).
#[derive(Debug, Error)]
pub enum ApiError {
    /// No caller credential was presented.
    #[error("this call needs a bearer token")]
    AuthRequired,
    /// The caller's token is invalid, expired, revoked or used up (deliberately not distinguished).
    #[error("the caller's token is not valid")]
    AuthFailed,
    /// The caller's token is good but does not reach this far.
    #[error("{0}")]
    AuthDenied(String),
    /// Wrong username, password or TOTP code (deliberately not distinguished).
    #[error("invalid username, password or code")]
    InvalidCredentials,
    /// The password was right but the account needs a TOTP code.
    #[error("this account needs a TOTP code")]
    MfaRequired,
    /// Too many failed attempts.
    #[error("account temporarily locked after repeated failures")]
    AccountLocked,
    /// A derived token would exceed its parent.
    #[error("{0}")]
    PrivilegeExceeded(String),
    /// An admin action without admin role or elevation.
    #[error("{0}")]
    ElevationRequired(String),
    /// A service token holds more than its job needs.
    #[error("{0}")]
    OverPrivileged(String),
    /// Malformed input; `field` names it.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The request field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No account by that name.
    #[error("no account named {0:?}")]
    UserNotFound(String),
    /// No token with that id.
    #[error("no token with id {0}")]
    TokenNotFound(String),
    /// The username is taken.
    #[error("an account named {0:?} already exists")]
    UserExists(String),
    /// The server is at capacity for this kind of work (e.g. password hashing).
    #[error("{0}")]
    ResourceExhausted(String),
    /// PostgreSQL is unreachable: fail closed.
    #[error("the token store is unavailable")]
    Unavailable,
    /// This replica is draining (SIGTERM): go to another one.
    #[error("{}", crate::drain::DRAIN_MESSAGE)]
    ShuttingDown,
    /// A WatchRevocations resume point older than the feed's retention: revocations after it were
    /// pruned, so the watcher must drop every cached verdict and watch again from sequence 0.
    #[error("revocations after the requested sequence were pruned (oldest retained: {oldest_sequence}); drop cached verdicts and watch again from 0")]
    ResyncRequired {
        /// The oldest sequence still in the feed.
        oldest_sequence: i64,
    },
    /// A resume or acknowledged position the revocation feed no longer holds: the database was
    /// restored, recovered to a point in time or failed over to a standby that lags.
    #[error("the revocation feed no longer holds this position (the database was restored or failed over); drop cached verdicts and follow again from the head")]
    FeedMoved,
    /// A bug or an unexpected state; details go to the log only.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for an invalid field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::InvalidArgument {
            field,
            message: message.into(),
        }
    }

    /// The reason string clients branch on.
    pub fn reason(&self) -> &'static str {
        self.table().1
    }

    fn table(&self) -> (Code, &'static str) {
        match self {
            ApiError::AuthRequired => (Code::Unauthenticated, "AUTH_REQUIRED"),
            ApiError::AuthFailed => (Code::Unauthenticated, "AUTH_FAILED"),
            ApiError::AuthDenied(_) => (Code::PermissionDenied, "AUTH_DENIED"),
            ApiError::InvalidCredentials => (Code::Unauthenticated, "INVALID_CREDENTIALS"),
            ApiError::MfaRequired => (Code::FailedPrecondition, "MFA_REQUIRED"),
            ApiError::AccountLocked => (Code::ResourceExhausted, "ACCOUNT_LOCKED"),
            ApiError::PrivilegeExceeded(_) => (Code::PermissionDenied, "PRIVILEGE_EXCEEDED"),
            ApiError::ElevationRequired(_) => (Code::PermissionDenied, "ELEVATION_REQUIRED"),
            ApiError::OverPrivileged(_) => (Code::PermissionDenied, "OVER_PRIVILEGED"),
            ApiError::InvalidArgument { .. } => (Code::InvalidArgument, "INVALID_ARGUMENT"),
            ApiError::UserNotFound(_) => (Code::NotFound, "USER_NOT_FOUND"),
            ApiError::TokenNotFound(_) => (Code::NotFound, "TOKEN_NOT_FOUND"),
            ApiError::UserExists(_) => (Code::AlreadyExists, "USER_EXISTS"),
            ApiError::ResourceExhausted(_) => (Code::ResourceExhausted, "RESOURCE_EXHAUSTED"),
            ApiError::Unavailable | ApiError::ShuttingDown => (Code::Unavailable, "UNAVAILABLE"),
            ApiError::ResyncRequired { .. } => (Code::FailedPrecondition, "RESYNC_REQUIRED"),
            ApiError::FeedMoved => (Code::FailedPrecondition, "RESYNC_REQUIRED"),
            ApiError::Internal(_) => (Code::Internal, "INTERNAL"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::Conflict { what } => {
                ApiError::invalid("request", format!("{what} already exists"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(err: ApiError) -> Self {
        let (code, reason) = err.table();
        if let ApiError::Internal(detail) = &err {
            error!(detail = %detail, "internal error");
        }
        let mut metadata = HashMap::new();
        if let ApiError::InvalidArgument { field, .. } = &err {
            metadata.insert("field".to_owned(), (*field).to_owned());
        }
        if let ApiError::ResyncRequired { oldest_sequence } = &err {
            metadata.insert("oldest_sequence".to_owned(), oldest_sequence.to_string());
        }
        let details = ErrorDetails::with_error_info(reason, tessera_proto::ERROR_DOMAIN, metadata);
        tonic::Status::with_error_details(code, err.to_string(), details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_code_reason_and_field() {
        let status: tonic::Status = ApiError::invalid("ttl", "ttl must be positive").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "ttl: ttl must be positive");
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        assert_eq!(info.domain, "tessera");
        assert_eq!(info.metadata.get("field").map(String::as_str), Some("ttl"));
    }

    #[test]
    fn resync_names_the_oldest_retained_sequence() {
        let status: tonic::Status = ApiError::ResyncRequired {
            oldest_sequence: 4711,
        }
        .into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "RESYNC_REQUIRED");
        assert_eq!(info.domain, "tessera");
        assert_eq!(
            info.metadata.get("oldest_sequence").map(String::as_str),
            Some("4711")
        );
    }

    #[test]
    fn internal_detail_stays_out_of_the_message() {
        let status: tonic::Status = ApiError::Internal("secret-ish detail".into()).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn store_outage_fails_closed_as_unavailable() {
        let err: ApiError = StoreError::Unavailable(sqlx_io_error()).into();
        assert_eq!(err.reason(), "UNAVAILABLE");
    }

    fn sqlx_io_error() -> tessera_store::SqlxError {
        tessera_store::SqlxError::PoolTimedOut
    }
}
