//! One error type for every call, classified by the reason Tessera attached.

use std::collections::BTreeMap;
use std::fmt;

use tonic::Code;
use tonic_types::StatusExt as _;

use crate::transport::{TlsFlags, TransportProblem};

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)*) => {
        /// Why a call failed: the `google.rpc.ErrorInfo` reason Tessera attached (domain
        /// `tessera`), or, when none came (a proxy or the transport failed), one derived from the
        /// gRPC code.
        ///
        /// ```
        /// use tessera_client::Reason;
        ///
        /// assert_eq!(Reason::from_wire("MFA_REQUIRED"), Some(Reason::MfaRequired));
        /// assert_eq!(Reason::ResyncRequired.as_str(), "RESYNC_REQUIRED");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
            /// A reason this client does not know (a newer server); see [`Error::wire_reason`].
            Unknown,
        }

        impl Reason {
            /// Every reason this client knows, in the order of the table.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The reason as Tessera writes it (`AUTH_FAILED`); `UNKNOWN` for [`Reason::Unknown`].
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $wire,)*
                    Reason::Unknown => "UNKNOWN",
                }
            }

            /// Reads a reason as Tessera writes it.
            pub fn from_wire(reason: &str) -> Option<Reason> {
                match reason {
                    $($wire => Some(Reason::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    /// No caller credential.
    AuthRequired = "AUTH_REQUIRED",
    /// The caller's token is invalid, expired, revoked or used up (not distinguished).
    AuthFailed = "AUTH_FAILED",
    /// Outside the caller token's namespace or permissions.
    AuthDenied = "AUTH_DENIED",
    /// Wrong username, password or TOTP code (login and unlock).
    InvalidCredentials = "INVALID_CREDENTIALS",
    /// The account has TOTP: the code is missing.
    MfaRequired = "MFA_REQUIRED",
    /// Too many failures; the account is locked for a while.
    AccountLocked = "ACCOUNT_LOCKED",
    /// A child token would be broader than its parent.
    PrivilegeExceeded = "PRIVILEGE_EXCEEDED",
    /// An admin action without elevation.
    ElevationRequired = "ELEVATION_REQUIRED",
    /// A service token would hold more than its job needs.
    OverPrivileged = "OVER_PRIVILEGED",
    /// Malformed input; [`Error::field`] names the field.
    InvalidArgument = "INVALID_ARGUMENT",
    /// No such user.
    UserNotFound = "USER_NOT_FOUND",
    /// The username is taken.
    UserExists = "USER_EXISTS",
    /// No such token.
    TokenNotFound = "TOKEN_NOT_FOUND",
    /// Tessera is overloaded, or a per-caller limit is reached.
    ResourceExhausted = "RESOURCE_EXHAUSTED",
    /// The revocation feed no longer holds the sequence a watcher resumed after: drop every
    /// cached verdict and resume from the start (metadata `oldest_sequence`).
    ResyncRequired = "RESYNC_REQUIRED",
    /// Tessera, its database or the network is unreachable, or a deadline passed: fail closed.
    Unavailable = "UNAVAILABLE",
    /// Tessera's own failure.
    Internal = "INTERNAL",
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
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    code: Code,
    reason: Reason,
    wire_reason: String,
    message: String,
    metadata: BTreeMap<String, String>,
    transport: Option<TransportProblem>,
}

impl Error {
    /// Classifies a gRPC status: by `ErrorInfo` reason (domain `tessera`) first, by code when
    /// there is none.
    pub fn from_status(status: &tonic::Status) -> Error {
        let info = status
            .get_details_error_info()
            .filter(|info| info.domain == tessera_proto::ERROR_DOMAIN);
        // Only a failure without Tessera's answer can be the transport's.
        let transport = match &info {
            Some(_) => None,
            None => TransportProblem::from_error(status)
                .or_else(|| TransportProblem::from_text(status.message())),
        };
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
        Error {
            code: status.code(),
            reason,
            wire_reason,
            message: status.message().to_owned(),
            metadata,
            transport,
        }
    }

    /// An error found before anything was sent (a bad address, an unreadable CA file).
    pub(crate) fn local(reason: Reason, field: &str, message: impl Into<String>) -> Error {
        let code = match reason {
            Reason::InvalidArgument => Code::InvalidArgument,
            Reason::Unavailable => Code::Unavailable,
            _ => Code::Internal,
        };
        let mut metadata = BTreeMap::new();
        if !field.is_empty() {
            metadata.insert("field".to_owned(), field.to_owned());
        }
        Error {
            code,
            reason,
            wire_reason: reason.as_str().to_owned(),
            message: message.into(),
            metadata,
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
        self.reason
    }

    /// The reason as the server wrote it, also when this client does not know it.
    pub fn wire_reason(&self) -> &str {
        &self.wire_reason
    }

    /// The gRPC code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The human-readable message (never branch on it).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field at fault, for [`Reason::InvalidArgument`].
    pub fn field(&self) -> Option<&str> {
        self.metadata("field")
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
        self.metadata.get(key).map(String::as_str)
    }

    /// Whether Tessera could not decide (unreachable, overloaded or too slow): fail closed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.reason, Reason::Unavailable | Reason::ResourceExhausted)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("reason", &self.wire_reason)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("metadata", &self.metadata)
            .field("transport", &self.transport)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.wire_reason)?;
        if let Some(field) = self.field() {
            write!(f, " (field {field})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

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

    #[test]
    fn a_foreign_domain_is_classified_by_code() {
        let foreign = tonic::Status::with_error_details(
            Code::Unavailable,
            "x",
            ErrorDetails::with_error_info(
                "AUTH_FAILED",
                "example.com",
                std::collections::HashMap::new(),
            ),
        );
        assert_eq!(Error::from_status(&foreign).reason(), Reason::Unavailable);
    }

    #[test]
    fn every_reason_round_trips() {
        for reason in Reason::ALL {
            assert_eq!(Reason::from_wire(reason.as_str()), Some(*reason));
        }
        assert_eq!(Reason::from_wire("UNKNOWN"), None);
    }
}
