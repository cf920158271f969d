//! The server's errors in the contract's vocabulary: every domain failure names its
//! [`Reason`] (the contract's one table fixes its gRPC code) and becomes a `tonic::Status` with
//! `google.rpc.ErrorInfo` (domain "tessera") through the contract's codec. Clients branch on the
//! reason; the message is for people and never carries a secret.

use tessera_proto::{Failure, Reason};
use tessera_store::StoreError;
use thiserror::Error;
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

    /// The reason clients branch on, from the contract's one table (which also fixes the gRPC
    /// code and the HTTP status every dialect answers with).
    pub fn reason(&self) -> Reason {
        match self {
            ApiError::AuthRequired => Reason::AuthRequired,
            ApiError::AuthFailed => Reason::AuthFailed,
            ApiError::AuthDenied(_) => Reason::AuthDenied,
            ApiError::InvalidCredentials => Reason::InvalidCredentials,
            ApiError::MfaRequired => Reason::MfaRequired,
            ApiError::AccountLocked => Reason::AccountLocked,
            ApiError::PrivilegeExceeded(_) => Reason::PrivilegeExceeded,
            ApiError::ElevationRequired(_) => Reason::ElevationRequired,
            ApiError::OverPrivileged(_) => Reason::OverPrivileged,
            ApiError::InvalidArgument { .. } => Reason::InvalidArgument,
            ApiError::UserNotFound(_) => Reason::UserNotFound,
            ApiError::TokenNotFound(_) => Reason::TokenNotFound,
            ApiError::UserExists(_) => Reason::UserExists,
            ApiError::ResourceExhausted(_) => Reason::ResourceExhausted,
            ApiError::Unavailable | ApiError::ShuttingDown => Reason::Unavailable,
            ApiError::ResyncRequired { .. } | ApiError::FeedMoved => Reason::ResyncRequired,
            ApiError::Internal(_) => Reason::Internal,
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
        if let ApiError::Internal(detail) = &err {
            error!(detail = %detail, "internal error");
        }
        let mut failure = Failure::new(err.reason(), err.to_string());
        if let ApiError::InvalidArgument { field, .. } = &err {
            failure = failure.with("field", *field);
        }
        if let ApiError::ResyncRequired { oldest_sequence } = &err {
            failure = failure.with("oldest_sequence", oldest_sequence.to_string());
        }
        failure.into_status()
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt as _;

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
        assert_eq!(err.reason(), Reason::Unavailable);
    }

    fn sqlx_io_error() -> tessera_store::SqlxError {
        tessera_store::SqlxError::PoolTimedOut
    }
}
