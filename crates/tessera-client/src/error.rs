//! One error type for every call, classified by the reason Tessera attached. The reason table
//! and the `ErrorInfo` codec are the contract's ([`tessera_proto::Reason`],
//! [`tessera_proto::Failure`]); this adds the client's own set-up errors and helpers.

use std::fmt;

use tessera_proto::Failure;
use tonic::Code;
use tonic_types::StatusExt as _;

pub use tessera_proto::Reason;

use crate::transport::{TlsFlags, TransportProblem};

/// A failed call (or a client set-up that cannot work), with the reason to branch on.
///
/// ```
/// use tessera_client::{Error, Reason};
///
/// let error = Error::from_status(&tonic::Status::unavailable("connection refused"));
/// assert_eq!(error.reason(), Reason::Unavailable);
/// assert!(error.is_unavailable());
/// ```
#[derive(Clone)]
pub struct Error {
    failure: Failure,
    transport: Option<TransportProblem>,
}

impl Error {
    /// Classifies a gRPC status: by `ErrorInfo` reason (domain `tessera`) first, by code when
    /// there is none.
    pub fn from_status(status: &tonic::Status) -> Error {
        let failure = Failure::from_status(status);
        // Only a failure without Tessera's answer can be the transport's.
        let answered = status
            .get_details_error_info()
            .is_some_and(|info| info.domain == tessera_proto::ERROR_DOMAIN);
        let transport = match answered {
            true => None,
            false => TransportProblem::from_error(status)
                .or_else(|| TransportProblem::from_text(status.message())),
        };
        Error { failure, transport }
    }

    /// An error found before anything was sent (a bad address, an unreadable CA file).
    pub(crate) fn local(reason: Reason, field: &str, message: impl Into<String>) -> Error {
        let code = match reason {
            Reason::InvalidArgument => Code::InvalidArgument,
            Reason::Unavailable => Code::Unavailable,
            _ => Code::Internal,
        };
        let mut failure = Failure::new(reason, message);
        failure.code = code;
        if !field.is_empty() {
            failure = failure.with("field", field);
        }
        Error {
            failure,
            transport: None,
        }
    }

    /// The same error, knowing what the transport said.
    pub(crate) fn with_transport(mut self, problem: Option<TransportProblem>) -> Error {
        self.transport = self.transport.or(problem);
        self
    }

    /// Why the connection failed, when the transport said (a TLS mismatch, a missing client
    /// certificate, nothing listening): what to tell a person, with
    /// [`TransportProblem::advice`].
    pub fn transport_problem(&self) -> Option<TransportProblem> {
        self.transport
    }

    /// Why the call failed.
    pub fn reason(&self) -> Reason {
        self.failure.reason
    }

    /// The reason as the server wrote it, also when this client does not know it.
    pub fn wire_reason(&self) -> &str {
        &self.failure.wire_reason
    }

    /// The gRPC code.
    pub fn code(&self) -> Code {
        self.failure.code
    }

    /// The human-readable message (never branch on it).
    pub fn message(&self) -> &str {
        &self.failure.message
    }

    /// The field at fault, for [`Reason::InvalidArgument`].
    pub fn field(&self) -> Option<&str> {
        self.failure.field()
    }

    /// The message of a settings error from [`crate::ClientBuilder::for_service`] or
    /// [`crate::ClientBuilder::check`], naming the program's own flag: `address_flag` when an
    /// address is at fault, `ca_flag` when the CA file is.
    ///
    /// ```
    /// use tessera_client::Client;
    ///
    /// let error = Client::builder().address("ftp://tessera:21").check().unwrap_err();
    /// assert!(error.flag_message("--tessera", "--tessera-ca").starts_with("--tessera: "));
    /// ```
    pub fn flag_message(&self, address_flag: &str, ca_flag: &str) -> String {
        let flag = if self.field() == Some("ca") {
            ca_flag
        } else {
            address_flag
        };
        format!("{flag}: {}", self.message())
    }

    /// [`Error::flag_message`] for a program with client-certificate flags too: the flag of
    /// the field at fault (`address`, `ca`, `cert` or `key`) and the message.
    ///
    /// ```
    /// use tessera_client::{Client, TlsFlags};
    ///
    /// let error = Client::builder()
    ///     .address("https://tessera:50051")
    ///     .identity_files("/nonexistent/client.crt", "/nonexistent/client.key")
    ///     .check()
    ///     .unwrap_err();
    /// assert!(error.flags_message(&TlsFlags::SERVICE).starts_with("--tessera-cert: "));
    /// ```
    pub fn flags_message(&self, flags: &TlsFlags) -> String {
        let flag = match self.field() {
            Some("ca") => flags.ca,
            Some("cert") => flags.cert,
            Some("key") => flags.key,
            _ => flags.address,
        };
        format!("{flag}: {}", self.message())
    }

    /// A value of the `ErrorInfo` metadata, e.g. `oldest_sequence` of
    /// [`Reason::ResyncRequired`].
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.failure.metadata(key)
    }

    /// The failure in the contract's terms, for dialects that answer it in their own shape.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// Whether Tessera could not decide (unreachable, overloaded or too slow): fail closed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.failure.reason,
            Reason::Unavailable | Reason::ResourceExhausted
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("reason", &self.failure.wire_reason)
            .field("code", &self.failure.code)
            .field("message", &self.failure.message)
            .field("metadata", &self.failure.metadata)
            .field("transport", &self.transport)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.failure.wire_reason)?;
        if let Some(field) = self.field() {
            write!(f, " (field {field})")?;
        }
        if !self.failure.message.is_empty() {
            write!(f, ": {}", self.failure.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        error.failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    fn status(code: Code, reason: &str, field: Option<&str>) -> tonic::Status {
        let metadata: std::collections::HashMap<String, String> = field
            .map(|f| [("field".to_owned(), f.to_owned())].into_iter().collect())
            .unwrap_or_default();
        tonic::Status::with_error_details(
            code,
            "refused",
            ErrorDetails::with_error_info(reason, "tessera", metadata),
        )
    }

    #[test]
    fn the_reason_comes_from_error_info_then_from_the_code() {
        let error = Error::from_status(&status(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("ttl"),
        ));
        assert_eq!(error.reason(), Reason::InvalidArgument);
        assert_eq!(error.field(), Some("ttl"));
        assert_eq!(error.to_string(), "INVALID_ARGUMENT (field ttl): refused");
        let error = Error::from_status(&status(Code::NotFound, "USER_NOT_FOUND", None));
        assert_eq!(error.reason(), Reason::UserNotFound);
        let newer = Error::from_status(&status(Code::Aborted, "SOMETHING_NEW", None));
        assert_eq!(newer.reason(), Reason::Unknown);
        assert_eq!(newer.wire_reason(), "SOMETHING_NEW");
        for (code, reason) in [
            (Code::Unavailable, Reason::Unavailable),
            (Code::DeadlineExceeded, Reason::Unavailable),
            (Code::Cancelled, Reason::Unavailable),
            (Code::Unauthenticated, Reason::AuthFailed),
            (Code::PermissionDenied, Reason::AuthDenied),
            (Code::Unknown, Reason::Internal),
        ] {
            assert_eq!(
                Error::from_status(&tonic::Status::new(code, "x")).reason(),
                reason
            );
        }
    }
}
