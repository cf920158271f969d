package tessera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// serverError builds the status the server sends: code, message and an ErrorInfo.
func serverError(t *testing.T, code codes.Code, domain string, reason Reason, field, message string) error {
	t.Helper()
	info := &errdetails.ErrorInfo{Reason: string(reason), Domain: domain}
	if field != "" {
		info.Metadata = map[string]string{"field": field}
	}
	st, err := status.New(code, message).WithDetails(info)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

var allSentinels = map[Reason]error{
	ReasonAuthRequired:       ErrAuthRequired,
	ReasonAuthFailed:         ErrAuthFailed,
	ReasonAuthDenied:         ErrAuthDenied,
	ReasonInvalidCredentials: ErrInvalidCredentials,
	ReasonMfaRequired:        ErrMfaRequired,
	ReasonAccountLocked:      ErrAccountLocked,
	ReasonPrivilegeExceeded:  ErrPrivilegeExceeded,
	ReasonElevationRequired:  ErrElevationRequired,
	ReasonOverPrivileged:     ErrOverPrivileged,
	ReasonInvalidArgument:    ErrInvalidArgument,
	ReasonUserNotFound:       ErrUserNotFound,
	ReasonUserExists:         ErrUserExists,
	ReasonTokenNotFound:      ErrTokenNotFound,
	ReasonResourceExhausted:  ErrResourceExhausted,
	ReasonResyncRequired:     ErrResyncRequired,
	ReasonUnavailable:        ErrUnavailable,
	ReasonInternal:           ErrInternal,
}

func TestEveryReasonMatchesExactlyItsSentinel(t *testing.T) {
	if len(allSentinels) != len(reasonCodes) {
		t.Fatalf("%d sentinels for %d reasons", len(allSentinels), len(reasonCodes))
	}
	for reason, code := range reasonCodes {
		err := fromError(serverError(t, code, "tessera", reason, "ttl", "some message"))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %T is not *Error", reason, err)
		}
		if e.Code != code || e.Reason != reason || e.Field != "ttl" || e.Message != "some message" {
			t.Fatalf("%s: %+v", reason, e)
		}
		for other, sentinel := range allSentinels {
			if got := errors.Is(err, sentinel); got != (other == reason) {
				t.Errorf("errors.Is(%s error, %v) = %v", reason, sentinel, got)
			}
		}
	}
}

func TestMatchingIgnoresMessageText(t *testing.T) {
	// The text says "locked"; the reason says the token failed. The reason wins.
	err := fromError(serverError(t, codes.Unauthenticated, "tessera", ReasonAuthFailed, "", "account locked; mfa required"))
	if !errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrAccountLocked) || errors.Is(err, ErrMfaRequired) {
		t.Fatalf("%v matched by text", err)
	}
	// Same code, different reasons: told apart.
	locked := fromError(serverError(t, codes.ResourceExhausted, "tessera", ReasonAccountLocked, "", ""))
	if !errors.Is(locked, ErrAccountLocked) || errors.Is(locked, ErrResourceExhausted) {
		t.Fatalf("ACCOUNT_LOCKED matched as %v", locked)
	}
}

func TestErrorsWithoutATesseraReasonMatchByCode(t *testing.T) {
	for code, sentinel := range map[codes.Code]error{
		codes.Unavailable:       ErrUnavailable,
		codes.Unauthenticated:   ErrAuthFailed,
		codes.PermissionDenied:  ErrAuthDenied,
		codes.InvalidArgument:   ErrInvalidArgument,
		codes.ResourceExhausted: ErrResourceExhausted,
		codes.Internal:          ErrInternal,
		codes.Unknown:           ErrInternal,
	} {
		plain := fromError(status.Error(code, "from a proxy"))
		if !errors.Is(plain, sentinel) {
			t.Errorf("%v without details: not %v", code, sentinel)
		}
		// ErrorInfo of another domain is not Tessera's reason.
		foreign := fromError(serverError(t, code, "example.com", ReasonMfaRequired, "f", ""))
		var e *Error
		if !errors.As(foreign, &e) || e.Reason != "" || e.Field != "" || !errors.Is(foreign, sentinel) || errors.Is(foreign, ErrMfaRequired) {
			t.Errorf("%v with a foreign ErrorInfo: %+v", code, e)
		}
	}
	// A reason from a newer server falls back on its code.
	future := fromError(serverError(t, codes.PermissionDenied, "tessera", "QUOTA_POLICY", "", ""))
	if !errors.Is(future, ErrAuthDenied) {
		t.Fatalf("unknown reason with PermissionDenied: %v", future)
	}
	if errors.Is(fromError(status.Error(codes.FailedPrecondition, "")), ErrMfaRequired) {
		t.Fatal("FailedPrecondition alone must not mean MFA_REQUIRED")
	}
}

func TestContextCodesMatchContextErrors(t *testing.T) {
	if err := fromError(status.Error(codes.DeadlineExceeded, "")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v is not context.DeadlineExceeded", err)
	}
	if err := fromError(status.Error(codes.Canceled, "")); !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v is not only context.Canceled", err)
	}
}

func TestNonStatusErrorsPassThrough(t *testing.T) {
	if fromError(nil) != nil {
		t.Fatal("nil became an error")
	}
	if err := fromError(io.EOF); err != io.EOF {
		t.Fatalf("io.EOF became %v", err)
	}
	wrapped := fmt.Errorf("dialing: %w", newError(ReasonUnavailable, "", "down"))
	if fromError(wrapped) != wrapped || !errors.Is(wrapped, ErrUnavailable) {
		t.Fatal("an *Error in a chain was rewrapped")
	}
}

func TestErrorKeepsTheStatus(t *testing.T) {
	err := fromError(serverError(t, codes.InvalidArgument, "tessera", ReasonInvalidArgument, "ttl", "ttl: bad unit"))
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || len(st.Details()) != 1 {
		t.Fatalf("status.FromError(%v) = %v, %v", err, st, ok)
	}
	if got := err.Error(); got != "tessera: invalid_argument: ttl: bad unit" {
		t.Fatalf("Error() = %q", got)
	}
	local := newError(ReasonInvalidArgument, "ttl", "ttl must not be negative")
	if status.Code(local) != codes.InvalidArgument {
		t.Fatalf("local error code %v", status.Code(local))
	}
	if got := fromError(status.Error(codes.Unavailable, "connection refused")).Error(); got != "tessera: unavailable: connection refused" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestGuardStatusesCarryTheirReason(t *testing.T) {
	err := fromError(statusWithReason(codes.PermissionDenied, ReasonAuthDenied, "insufficient namespace scope").Err())
	if !errors.Is(err, ErrAuthDenied) || status.Code(err) != codes.PermissionDenied {
		t.Fatalf("%v", err)
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	const raw = "tsr_ses_supersecretvalue"
	s := Secret(raw)
	for _, printed := range []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %q %x %#v", s, s, s, s, s),
		fmt.Sprintf("%+v", Session{Token: s}), fmt.Sprintf("%#v", IssuedToken{Token: s}),
	} {
		if strings.Contains(printed, raw) || strings.Contains(printed, fmt.Sprintf("%x", raw)) {
			t.Fatalf("printed %q", printed)
		}
	}
	if s.Expose() != raw {
		t.Fatal("Expose lost the secret")
	}
}
