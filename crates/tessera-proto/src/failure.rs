//! A failed call in the contract's terms, decoded from or encoded into a gRPC status with its
//! `google.rpc.ErrorInfo`: the one codec every side uses (the server encodes; the Rust client,
//! both edges and every dialect decode).

use std::collections::BTreeMap;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::{Reason, ERROR_DOMAIN};

/// A failed call: its reason (by `ErrorInfo` first, by gRPC code when there is none), the reason
/// as written on the wire, the message for people, and the `ErrorInfo` metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The gRPC code.
    pub code: Code,
    /// Why, in the contract's vocabulary.
    pub reason: Reason,
    /// The reason as the server wrote it, also when this build does not know it.
    pub wire_reason: String,
    /// The human-readable message (never branch on it; never holds a secret).
    pub message: String,
    /// The `ErrorInfo` metadata (`field`, `oldest_sequence`…).
    pub metadata: BTreeMap<String, String>,
}

impl Failure {
    /// A failure the server raises: the reason's own gRPC code.
    pub fn new(reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            code: reason.code(),
            reason,
            wire_reason: reason.as_str().to_owned(),
            message: message.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds one `ErrorInfo` metadata entry.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Failure {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }

    /// Decodes a status: by `ErrorInfo` reason (domain `tessera`) first, by code when there is
    /// none. A reason this build does not know is [`Reason::Unknown`] with its wire string kept.
    pub fn from_status(status: &tonic::Status) -> Failure {
        let info = status
            .get_details_error_info()
            .filter(|info| info.domain == ERROR_DOMAIN);
        let (reason, wire_reason, metadata) = match info {
            Some(info) => (
                Reason::from_wire(&info.reason).unwrap_or(Reason::Unknown),
                info.reason,
                info.metadata.into_iter().collect(),
            ),
            None => {
                let reason = Reason::from_code(status.code());
                (reason, reason.as_str().to_owned(), BTreeMap::new())
            }
        };
        Failure {
            code: status.code(),
            reason,
            wire_reason,
            message: status.message().to_owned(),
            metadata,
        }
    }

    /// Encodes the failure as a status carrying its `ErrorInfo`.
    pub fn into_status(self) -> tonic::Status {
        let details = ErrorDetails::with_error_info(
            self.wire_reason,
            ERROR_DOMAIN,
            self.metadata
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        tonic::Status::with_error_details(self.code, self.message, details)
    }

    /// One `ErrorInfo` metadata value.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The field at fault, for [`Reason::InvalidArgument`].
    pub fn field(&self) -> Option<&str> {
        self.metadata("field")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_domain_or_no_details_falls_back_to_the_code() {
        let mut details = ErrorDetails::new();
        details.set_error_info("AUTH_DENIED", "example.com", []);
        let foreign =
            tonic::Status::with_error_details(Code::Unavailable, "proxy says no", details);
        assert_eq!(Failure::from_status(&foreign).reason, Reason::Unavailable);
        for (code, reason) in [
            (Code::Unavailable, Reason::Unavailable),
            (Code::DeadlineExceeded, Reason::Unavailable),
            (Code::Cancelled, Reason::Unavailable),
            (Code::Unauthenticated, Reason::AuthFailed),
            (Code::PermissionDenied, Reason::AuthDenied),
            (Code::InvalidArgument, Reason::InvalidArgument),
            (Code::Unknown, Reason::Internal),
        ] {
            let bare = tonic::Status::new(code, "x");
            assert_eq!(Failure::from_status(&bare).reason, reason, "{code:?}");
        }
    }

    #[test]
    fn a_reason_from_a_newer_server_is_unknown_and_kept() {
        let status = Failure::new(Reason::Internal, "x").into_status();
        let mut details = ErrorDetails::new();
        details.set_error_info("BRAND_NEW", ERROR_DOMAIN, []);
        let newer = tonic::Status::with_error_details(status.code(), "x", details);
        let failure = Failure::from_status(&newer);
        assert_eq!(failure.reason, Reason::Unknown);
        assert_eq!(failure.wire_reason, "BRAND_NEW");
        assert!(failure.reason.is_undecided());
    }

    #[test]
    fn every_reason_round_trips_with_its_code() {
        for &reason in Reason::ALL {
            let back = Failure::from_status(&Failure::new(reason, "m").into_status());
            assert_eq!((back.reason, back.code), (reason, reason.code()));
        }
    }
}
