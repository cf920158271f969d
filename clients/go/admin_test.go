package tessera_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

func TestAdminManagesAccountsTOTPTokensAndAudit(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t).Admin()
	name := fmt.Sprintf("goadm%d", time.Now().UnixNano())

	user, err := admin.CreateUser(ctx, tessera.NewUser{Username: name, Password: "go-admin-password-1"})
	if err != nil || user.Username != name || user.Role != "user" {
		t.Fatalf("CreateUser: %+v, %v", user, err)
	}
	_, err = admin.CreateUser(ctx, tessera.NewUser{Username: name, Password: "go-admin-password-1"})
	requireError(t, err, tessera.ErrUserExists, tessera.ReasonUserExists, codes.AlreadyExists, "")

	users, err := admin.ListUsers(ctx)
	if err != nil || !slices.ContainsFunc(users, func(u tessera.UserSummary) bool { return u.User.Username == name }) {
		t.Fatalf("ListUsers lacks %s: %v", name, err)
	}
	if user, err = admin.SetRole(ctx, name, "admin"); err != nil || user.Role != "admin" {
		t.Fatalf("SetRole: %+v, %v", user, err)
	}
	_, err = admin.SetRole(ctx, name+"-missing", "admin")
	requireError(t, err, tessera.ErrUserNotFound, tessera.ReasonUserNotFound, codes.NotFound, "")
	if summary, err := admin.SetUserDisabled(ctx, name, true); err != nil || !summary.Disabled {
		t.Fatalf("disable: %+v, %v", summary, err)
	}
	if summary, err := admin.SetUserDisabled(ctx, name, false); err != nil || summary.Disabled {
		t.Fatalf("enable: %+v, %v", summary, err)
	}
	if err := admin.SetPassword(ctx, name, "go-admin-password-2"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	login(t, name, "go-admin-password-2")

	enrollment, err := admin.BeginTOTPEnrollment(ctx, name)
	if err != nil {
		t.Fatalf("BeginTOTPEnrollment: %v", err)
	}
	seed, err := parseOTPAuth(enrollment.OtpauthURI.Expose())
	if err != nil {
		t.Fatalf("otpauth URI: %v", err)
	}
	if user, err = admin.ConfirmTOTPEnrollment(ctx, name, enrollment.Secret, seed.code(time.Now())); err != nil || !user.TOTPEnabled {
		t.Fatalf("ConfirmTOTPEnrollment: %+v, %v", user, err)
	}
	if user, err = admin.RemoveTOTP(ctx, name); err != nil || user.TOTPEnabled {
		t.Fatalf("RemoveTOTP: %+v, %v", user, err)
	}

	issued := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, Namespace: "deploy.", Description: "go admin test"})
	tokens, err := admin.ListTokens(ctx, "", false)
	if err != nil || !slices.ContainsFunc(tokens, func(tok tessera.TokenInfo) bool {
		return tok.TokenID == issued.TokenID && tok.Description == "go admin test"
	}) {
		t.Fatalf("ListTokens lacks %s: %v", issued.TokenID, err)
	}
	info, err := admin.GetToken(ctx, issued.TokenID)
	if err != nil || info.Namespace != "deploy." || info.Type != tessera.TokenTypeAPI {
		t.Fatalf("GetToken: %+v, %v", info, err)
	}
	_, err = admin.GetToken(ctx, "00000000-0000-4000-8000-000000000000")
	if !errors.Is(err, tessera.ErrTokenNotFound) {
		t.Fatalf("GetToken of an unknown id: %v", err)
	}

	events, err := admin.ListAuditEvents(ctx, tessera.AuditQuery{Action: "user.create", Limit: 100})
	if err != nil || !slices.ContainsFunc(events, func(e tessera.AuditEvent) bool { return e.Username == name }) {
		t.Fatalf("audit trail lacks the creation of %s: %v", name, err)
	}
}
