//! The edge's one error table: Tessera's failures (by `google.rpc.ErrorInfo` reason) and the
//! edge's own refusals, turned into protocol lines.
//!
//! | situation | line | connection |
//! |---|---|---|
//! | AUTH succeeded | `OK` | open |
//! | first line is not `AUTH` | `ERROR auth_required` | closed |
//! | token inactive at AUTH (bad, expired, revoked, used up) | `ERROR auth_failed` | closed |
//! | token inactive at a later command | `<id> ERROR auth_failed` | closed |
//! | no complete AUTH in time | `ERROR auth_timeout` | closed |
//! | Tessera unavailable at AUTH | `ERROR auth_unavailable auth service unavailable` | closed |
//! | Tessera unavailable at a command | `<id> ERROR auth_unavailable auth service unavailable` | open |
//! | identifier outside the namespace | `<id> ERROR auth_denied insufficient namespace scope` | open |
//! | Tessera refuses an identifier (INVALID_ARGUMENT) | `<id> ERROR invalid_argument …` | open |
//! | upstream down | `<id> ERROR upstream unavailable` | open |
//! | upstream reply matched no command (link reset) | `<id> ERROR upstream_desync upstream link reset` | open |
//! | command the rules refuse | `<id> ERROR unknown_command …`, `<id> ERROR missing_argument …` | open |
//! | line the grammar cannot read exactly | `ERROR invalid_line <why>` | open |
//! | forwarded form longer than the upstream reads | `<id> ERROR line_too_long` | open |
//!
//! A refusal of the edge's own service token (AUTH_FAILED, AUTH_DENIED, OVER_PRIVILEGED…) is the
//! operator's problem, not the client's: it is logged and the client sees "auth service
//! unavailable", failing closed.

use tessera_proto::{Failure, Reason};

/// Why a call to Tessera gave no answer, classified by the reason Tessera attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TesseraFailure {
    /// Tessera refused the edge's own service token: misconfiguration or revocation.
    ServiceTokenRejected {
        /// The ErrorInfo reason, or the gRPC code when there was none.
        reason: String,
    },
    /// Tessera found the request malformed, e.g. an identifier it does not accept.
    InvalidArgument {
        /// The field Tessera named, if any.
        field: Option<String>,
    },
    /// Tessera could not decide: unreachable, overloaded, its database down, or too slow.
    Unavailable {
        /// The ErrorInfo reason, or the gRPC code when there was none.
        reason: String,
    },
}

impl TesseraFailure {
    /// Classifies a failed `tessera-client` call by its reason (which falls back to the gRPC
    /// code when Tessera attached none).
    pub fn from_client(error: &tessera_client::Error) -> Self {
        Self::from_failure(error.failure())
    }

    /// Classifies a failure in the contract's terms: malformed input, a refusal of the edge's
    /// own token (the contract's [`Reason::refuses_caller`]), or no decision.
    pub fn from_failure(failure: &Failure) -> Self {
        match failure.reason {
            Reason::InvalidArgument => Self::InvalidArgument {
                field: failure.field().map(str::to_owned),
            },
            reason if reason.refuses_caller() => Self::ServiceTokenRejected {
                reason: failure.wire_reason.clone(),
            },
            _ => Self::Unavailable {
                reason: failure.wire_reason.clone(),
            },
        }
    }
}

/// A line the edge itself sends to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeReply {
    /// AUTH accepted.
    AuthOk,
    /// The first line was not `AUTH <secret>`.
    AuthRequired,
    /// The token is not active; with the request id of the command that found out, if any.
    AuthFailed(Option<String>),
    /// No complete AUTH line in time.
    AuthTimeout,
    /// Tessera could not decide; with the command's request id after AUTH.
    AuthUnavailable(Option<String>),
    /// An identifier is outside the token's namespace.
    AuthDenied(String),
    /// Tessera refused an identifier as malformed.
    InvalidArgument(String, String),
    /// A command the rules refuse: the request id and the text after `ERROR `.
    Refused(String, String),
    /// A command whose canonical form is longer than the upstream reads.
    CommandTooLong(String),
    /// The upstream cannot be reached or dropped the command.
    UpstreamUnavailable(String),
    /// The upstream sent a reply the edge could not match; the link was reset.
    UpstreamDesync(String),
    /// `AUTH` on an already authenticated connection.
    AlreadyAuthenticated,
    /// A line longer than the limit.
    LineTooLong,
    /// A line the grammar cannot read exactly as the upstream would, and why.
    InvalidLine(String),
    /// No line from the client for too long.
    IdleTimeout,
    /// The connection limit is reached.
    Busy,
}

impl EdgeReply {
    /// The reply for a Tessera failure; `request_id` is `None` during AUTH.
    pub fn for_failure(failure: &TesseraFailure, request_id: Option<&str>) -> Self {
        match (failure, request_id) {
            (TesseraFailure::InvalidArgument { .. }, None) => Self::AuthFailed(None),
            (TesseraFailure::InvalidArgument { field }, Some(id)) => Self::InvalidArgument(
                id.to_owned(),
                field.clone().unwrap_or_else(|| "identifiers".to_owned()),
            ),
            (
                TesseraFailure::Unavailable { .. } | TesseraFailure::ServiceTokenRejected { .. },
                id,
            ) => Self::AuthUnavailable(id.map(str::to_owned)),
        }
    }

    /// The line to send, without the terminator.
    pub fn line(&self) -> String {
        let with_id = |id: &Option<String>, body: &str| match id {
            Some(id) => format!("{id} {body}"),
            None => body.to_owned(),
        };
        match self {
            Self::AuthOk => "OK".to_owned(),
            Self::AuthRequired => "ERROR auth_required".to_owned(),
            Self::AuthFailed(id) => with_id(id, "ERROR auth_failed"),
            Self::AuthTimeout => "ERROR auth_timeout".to_owned(),
            Self::AuthUnavailable(id) => {
                with_id(id, "ERROR auth_unavailable auth service unavailable")
            }
            Self::AuthDenied(id) => format!("{id} ERROR auth_denied insufficient namespace scope"),
            Self::InvalidArgument(id, field) => format!("{id} ERROR invalid_argument {field}"),
            Self::Refused(id, body) => format!("{id} ERROR {body}"),
            Self::CommandTooLong(id) => format!("{id} ERROR line_too_long"),
            Self::UpstreamUnavailable(id) => format!("{id} ERROR upstream unavailable"),
            Self::UpstreamDesync(id) => format!("{id} ERROR upstream_desync upstream link reset"),
            Self::AlreadyAuthenticated => "ERROR already_authenticated".to_owned(),
            Self::LineTooLong => "ERROR line_too_long".to_owned(),
            Self::InvalidLine(why) => format!("ERROR invalid_line {why}"),
            Self::IdleTimeout => "ERROR idle_timeout".to_owned(),
            Self::Busy => "ERROR busy too many connections".to_owned(),
        }
    }

    /// Whether the connection closes after this line.
    pub fn closes(&self) -> bool {
        match self {
            Self::AuthOk
            | Self::AuthDenied(_)
            | Self::InvalidArgument(..)
            | Self::Refused(..)
            | Self::CommandTooLong(_)
            | Self::UpstreamUnavailable(_)
            | Self::UpstreamDesync(_)
            | Self::AlreadyAuthenticated
            | Self::InvalidLine(_)
            | Self::AuthUnavailable(Some(_)) => false,
            Self::AuthRequired
            | Self::AuthFailed(_)
            | Self::AuthTimeout
            | Self::AuthUnavailable(None)
            | Self::LineTooLong
            | Self::IdleTimeout
            | Self::Busy => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    fn classify(status: &tonic::Status) -> TesseraFailure {
        TesseraFailure::from_failure(&Failure::from_status(status))
    }

    fn status(code: Code, reason: &str) -> tonic::Status {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            reason,
            tessera_client::ERROR_DOMAIN,
            [("field".to_owned(), "identifiers".to_owned())],
        );
        tonic::Status::with_error_details(code, "x", details)
    }

    #[test]
    fn reasons_decide_over_codes() {
        assert_eq!(
            classify(&status(Code::Unavailable, "UNAVAILABLE")),
            TesseraFailure::Unavailable {
                reason: "UNAVAILABLE".into()
            }
        );
        assert_eq!(
            classify(&status(Code::Unauthenticated, "AUTH_FAILED")),
            TesseraFailure::ServiceTokenRejected {
                reason: "AUTH_FAILED".into()
            }
        );
        assert_eq!(
            classify(&status(Code::PermissionDenied, "OVER_PRIVILEGED")),
            TesseraFailure::ServiceTokenRejected {
                reason: "OVER_PRIVILEGED".into()
            }
        );
        assert_eq!(
            classify(&status(Code::InvalidArgument, "INVALID_ARGUMENT")),
            TesseraFailure::InvalidArgument {
                field: Some("identifiers".into())
            }
        );
        assert_eq!(
            classify(&status(Code::Internal, "INTERNAL")),
            TesseraFailure::Unavailable {
                reason: "INTERNAL".into()
            }
        );
    }

    #[test]
    fn every_reason_of_the_contract_is_classified() {
        for &reason in Reason::ALL.iter().chain(&[Reason::Unknown]) {
            let failure = TesseraFailure::from_failure(&Failure::new(reason, "m"));
            let ok = match reason {
                Reason::InvalidArgument => {
                    matches!(failure, TesseraFailure::InvalidArgument { .. })
                }
                _ if reason.refuses_caller() => {
                    matches!(failure, TesseraFailure::ServiceTokenRejected { .. })
                }
                _ => matches!(failure, TesseraFailure::Unavailable { .. }),
            };
            assert!(ok, "{reason}: {failure:?}");
        }
    }

    #[test]
    fn bare_codes_fail_closed() {
        let bare = |code| classify(&tonic::Status::new(code, "transport error"));
        assert!(matches!(
            bare(Code::Unavailable),
            TesseraFailure::Unavailable { .. }
        ));
        assert!(matches!(
            bare(Code::DeadlineExceeded),
            TesseraFailure::Unavailable { .. }
        ));
        assert!(matches!(
            bare(Code::Unknown),
            TesseraFailure::Unavailable { .. }
        ));
        assert!(matches!(
            bare(Code::Unauthenticated),
            TesseraFailure::ServiceTokenRejected { .. }
        ));
        assert!(matches!(
            bare(Code::InvalidArgument),
            TesseraFailure::InvalidArgument { field: None }
        ));
    }

    #[test]
    fn failures_become_lines() {
        let down = TesseraFailure::Unavailable {
            reason: "UNAVAILABLE".into(),
        };
        let at_auth = EdgeReply::for_failure(&down, None);
        assert_eq!(
            at_auth.line(),
            "ERROR auth_unavailable auth service unavailable"
        );
        assert!(at_auth.closes());
        let at_command = EdgeReply::for_failure(&down, Some("7"));
        assert_eq!(
            at_command.line(),
            "7 ERROR auth_unavailable auth service unavailable"
        );
        assert!(!at_command.closes());
        let rejected = TesseraFailure::ServiceTokenRejected {
            reason: "AUTH_FAILED".into(),
        };
        assert_eq!(
            EdgeReply::for_failure(&rejected, None),
            EdgeReply::AuthUnavailable(None)
        );
        let invalid = TesseraFailure::InvalidArgument { field: None };
        assert_eq!(
            EdgeReply::for_failure(&invalid, None),
            EdgeReply::AuthFailed(None)
        );
        assert_eq!(
            EdgeReply::for_failure(&invalid, Some("3")).line(),
            "3 ERROR invalid_argument identifiers"
        );
    }

    #[test]
    fn protocol_lines_are_exact() {
        assert_eq!(EdgeReply::AuthOk.line(), "OK");
        assert_eq!(EdgeReply::AuthRequired.line(), "ERROR auth_required");
        assert_eq!(EdgeReply::AuthFailed(None).line(), "ERROR auth_failed");
        assert_eq!(
            EdgeReply::AuthFailed(Some("4".into())).line(),
            "4 ERROR auth_failed"
        );
        assert_eq!(
            EdgeReply::AuthDenied("5".into()).line(),
            "5 ERROR auth_denied insufficient namespace scope"
        );
        assert_eq!(
            EdgeReply::UpstreamUnavailable("6".into()).line(),
            "6 ERROR upstream unavailable"
        );
        assert_eq!(
            EdgeReply::UpstreamDesync("7".into()).line(),
            "7 ERROR upstream_desync upstream link reset"
        );
        assert_eq!(
            EdgeReply::Refused("8".into(), "unknown_command".into()).line(),
            "8 ERROR unknown_command"
        );
        assert_eq!(
            EdgeReply::InvalidLine("unclosed quote".into()).line(),
            "ERROR invalid_line unclosed quote"
        );
        assert_eq!(
            EdgeReply::CommandTooLong("9".into()).line(),
            "9 ERROR line_too_long"
        );
        for open in [
            EdgeReply::UpstreamDesync("7".into()),
            EdgeReply::Refused("8".into(), "x".into()),
            EdgeReply::InvalidLine("x".into()),
            EdgeReply::CommandTooLong("9".into()),
        ] {
            assert!(!open.closes(), "{open:?}");
        }
        assert!(EdgeReply::AuthFailed(Some("4".into())).closes());
        assert!(!EdgeReply::AuthDenied("5".into()).closes());
        assert!(EdgeReply::LineTooLong.closes());
    }
}
