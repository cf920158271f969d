package tessera

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain is the google.rpc.ErrorInfo domain of Tessera's own errors; ErrorInfo from any other
// domain (a proxy, a mesh) is ignored.
const errorDomain = "tessera"

// Reason is the machine-readable cause Tessera puts in google.rpc.ErrorInfo. Branch on it (or on the
// sentinel errors below), never on message text.
type Reason string

// The reasons of the API contract (proto/tessera/v1/auth.proto).
const (
	ReasonAuthRequired       Reason = "AUTH_REQUIRED"
	ReasonAuthFailed         Reason = "AUTH_FAILED"
	ReasonAuthDenied         Reason = "AUTH_DENIED"
	ReasonInvalidCredentials Reason = "INVALID_CREDENTIALS"
	ReasonMfaRequired        Reason = "MFA_REQUIRED"
	ReasonAccountLocked      Reason = "ACCOUNT_LOCKED"
	ReasonPrivilegeExceeded  Reason = "PRIVILEGE_EXCEEDED"
	ReasonElevationRequired  Reason = "ELEVATION_REQUIRED"
	ReasonOverPrivileged     Reason = "OVER_PRIVILEGED"
	ReasonInvalidArgument    Reason = "INVALID_ARGUMENT"
	ReasonUserNotFound       Reason = "USER_NOT_FOUND"
	ReasonUserExists         Reason = "USER_EXISTS"
	ReasonTokenNotFound      Reason = "TOKEN_NOT_FOUND"
	ReasonResourceExhausted  Reason = "RESOURCE_EXHAUSTED"
	ReasonResyncRequired     Reason = "RESYNC_REQUIRED"
	ReasonUnavailable        Reason = "UNAVAILABLE"
	ReasonInternal           Reason = "INTERNAL"
)

// Sentinel errors, one per reason. Match them with errors.Is; use errors.As with *Error for the
// code, the field at fault and the message.
var (
	// ErrAuthRequired: the call needs a bearer token and none was sent.
	ErrAuthRequired = newSentinel(ReasonAuthRequired, "authentication required")
	// ErrAuthFailed: the caller's token is invalid, expired, revoked or used up.
	ErrAuthFailed = newSentinel(ReasonAuthFailed, "authentication failed")
	// ErrAuthDenied: the caller's token is good but lacks the permission or namespace.
	ErrAuthDenied = newSentinel(ReasonAuthDenied, "permission denied")
	// ErrInvalidCredentials: wrong username, password or TOTP code.
	ErrInvalidCredentials = newSentinel(ReasonInvalidCredentials, "invalid credentials")
	// ErrMfaRequired: the password was right but the account needs a TOTP code.
	ErrMfaRequired = newSentinel(ReasonMfaRequired, "totp code required")
	// ErrAccountLocked: too many failed attempts; the account is locked for a while.
	ErrAccountLocked = newSentinel(ReasonAccountLocked, "account locked")
	// ErrPrivilegeExceeded: a derived token would be broader than its parent.
	ErrPrivilegeExceeded = newSentinel(ReasonPrivilegeExceeded, "privilege exceeded")
	// ErrElevationRequired: an admin action without an admin role or an elevated token.
	ErrElevationRequired = newSentinel(ReasonElevationRequired, "elevation required")
	// ErrOverPrivileged: a service token would hold more than its job needs.
	ErrOverPrivileged = newSentinel(ReasonOverPrivileged, "over-privileged service token")
	// ErrInvalidArgument: malformed input; Error.Field names the field.
	ErrInvalidArgument = newSentinel(ReasonInvalidArgument, "invalid argument")
	// ErrUserNotFound: an admin call named an account that does not exist.
	ErrUserNotFound = newSentinel(ReasonUserNotFound, "user not found")
	// ErrUserExists: CreateUser named a username that is taken.
	ErrUserExists = newSentinel(ReasonUserExists, "user exists")
	// ErrTokenNotFound: an admin call named a token id that does not exist (or is not yours).
	ErrTokenNotFound = newSentinel(ReasonTokenNotFound, "token not found")
	// ErrResourceExhausted: the server is at capacity for this kind of work; retry later.
	ErrResourceExhausted = newSentinel(ReasonResourceExhausted, "resource exhausted")
	// ErrUnavailable: Tessera or its database cannot be reached; nothing was decided.
	ErrUnavailable = newSentinel(ReasonUnavailable, "unavailable")
	// ErrResyncRequired: WatchRevocations was asked to resume from a sequence whose successors the
	// server pruned (its --revocation-retention). Drop every verdict cached from the feed and watch
	// again from 0 (WatchRevocations does the latter itself); Error.OldestSequence says where the
	// retained feed starts.
	ErrResyncRequired = newSentinel(ReasonResyncRequired, "revocation feed resync required")
	// ErrInternal: a server bug or unexpected state.
	ErrInternal = newSentinel(ReasonInternal, "internal error")
)

// sentinel is the type of the Err* values: comparable by identity, matched by *Error.Is on reason.
type sentinel struct {
	reason Reason
	text   string
}

func newSentinel(reason Reason, text string) error { return &sentinel{reason: reason, text: text} }

func (s *sentinel) Error() string { return "tessera: " + s.text }

// Error is a failed call to Tessera (or a request this package refused before sending it).
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Reason is the ErrorInfo reason with domain "tessera"; empty when the failure did not come
	// from Tessera's error table (a transport failure, a proxy).
	Reason Reason
	// Field names the request field at fault, when there is one (ErrorInfo metadata "field").
	Field string
	// Message is the server's human-readable message. Never branch on it.
	Message string
	// OldestSequence is the oldest revocation the server retains, with ReasonResyncRequired
	// (ErrorInfo metadata "oldest_sequence"); 0 otherwise.
	OldestSequence uint64

	status *status.Status
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tessera: ")
	if e.Reason != "" {
		b.WriteString(strings.ToLower(string(e.Reason)))
	} else {
		b.WriteString(strings.ToLower(e.Code.String()))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is matches the sentinel of the error's reason. An error without a Tessera reason matches by gRPC
// code, so a transport failure still satisfies errors.Is(err, ErrUnavailable). Deadline and
// cancellation codes also match context.DeadlineExceeded and context.Canceled.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	case context.Canceled:
		return e.Code == codes.Canceled
	}
	s, ok := target.(*sentinel)
	return ok && s.reason == e.kind()
}

// GRPCStatus lets status.FromError and status.Code see through to the original status.
func (e *Error) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	return status.New(e.Code, e.Message)
}

// kind is the reason used for matching: the server's when it is one this package knows, else one
// derived from the gRPC code.
func (e *Error) kind() Reason {
	if _, known := reasonCodes[e.Reason]; known {
		return e.Reason
	}
	return codeReasons[e.Code]
}

// reasonCodes is the server's error table (DESIGN.md §3), used when this package builds an error
// itself and to tell known reasons from future ones.
var reasonCodes = map[Reason]codes.Code{
	ReasonAuthRequired:       codes.Unauthenticated,
	ReasonAuthFailed:         codes.Unauthenticated,
	ReasonAuthDenied:         codes.PermissionDenied,
	ReasonInvalidCredentials: codes.Unauthenticated,
	ReasonMfaRequired:        codes.FailedPrecondition,
	ReasonAccountLocked:      codes.ResourceExhausted,
	ReasonPrivilegeExceeded:  codes.PermissionDenied,
	ReasonElevationRequired:  codes.PermissionDenied,
	ReasonOverPrivileged:     codes.PermissionDenied,
	ReasonInvalidArgument:    codes.InvalidArgument,
	ReasonUserNotFound:       codes.NotFound,
	ReasonUserExists:         codes.AlreadyExists,
	ReasonTokenNotFound:      codes.NotFound,
	ReasonResourceExhausted:  codes.ResourceExhausted,
	ReasonResyncRequired:     codes.FailedPrecondition,
	ReasonUnavailable:        codes.Unavailable,
	ReasonInternal:           codes.Internal,
}

// codeReasons classifies failures that carry no (known) Tessera reason, by gRPC code alone.
var codeReasons = map[codes.Code]Reason{
	codes.Unauthenticated:   ReasonAuthFailed,
	codes.PermissionDenied:  ReasonAuthDenied,
	codes.InvalidArgument:   ReasonInvalidArgument,
	codes.ResourceExhausted: ReasonResourceExhausted,
	codes.Unavailable:       ReasonUnavailable,
	codes.Internal:          ReasonInternal,
	codes.Unknown:           ReasonInternal,
	codes.DataLoss:          ReasonInternal,
}

// newError builds an error for a request refused before it was sent, shaped like the server's.
func newError(reason Reason, field, message string) *Error {
	return &Error{Code: reasonCodes[reason], Reason: reason, Field: field, Message: message}
}

// FromGRPCError converts the error of any gRPC call (for example to a service guarded by
// UnaryServerInterceptor) into an *Error keyed on its tessera ErrorInfo reason, so that errors.Is
// works with the sentinels. Errors without a gRPC status are returned unchanged.
func FromGRPCError(err error) error { return fromError(err) }

// fromError converts a gRPC error into an *Error keyed on the ErrorInfo reason. Errors that carry no
// gRPC status (nil, io.EOF, plain context errors) are returned unchanged.
func fromError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return fromStatus(st)
}

// fromStatus reads code, message and the first ErrorInfo of domain "tessera" from a status.
func fromStatus(st *status.Status) *Error {
	e := &Error{Code: st.Code(), Message: st.Message(), status: st}
	for _, detail := range st.Details() {
		info, ok := detail.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		e.Reason = Reason(info.GetReason())
		e.Field = info.GetMetadata()["field"]
		if oldest, err := strconv.ParseUint(info.GetMetadata()["oldest_sequence"], 10, 64); err == nil {
			e.OldestSequence = oldest
		}
		break
	}
	return e
}

// statusWithReason builds a status carrying an ErrorInfo of domain "tessera", for the server
// interceptor, so that Go clients of a guarded service can match errors the same way.
func statusWithReason(code codes.Code, reason Reason, message string) *status.Status {
	return statusWithField(code, reason, "", message)
}

// statusWithField is statusWithReason naming the field at fault (ErrorInfo metadata "field").
func statusWithField(code codes.Code, reason Reason, field, message string) *status.Status {
	info := &errdetails.ErrorInfo{Reason: string(reason), Domain: errorDomain}
	if field != "" {
		info.Metadata = map[string]string{"field": field}
	}
	st := status.New(code, message)
	if withInfo, err := st.WithDetails(info); err == nil {
		return withInfo
	}
	return st
}
