package tessera_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

func TestLoginOpensASession(t *testing.T) {
	s := server(t)
	before := time.Now()
	sess, err := dial(t, "").Login(testContext(t), tessera.Credentials{Username: s.Ready.AdminUsername, Password: s.Ready.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sess.Token.Expose(), "tsr_ses_") || sess.TokenID == "" || sess.SessionID == "" {
		t.Fatalf("session %+v: want a tsr_ses_ token with ids", sess)
	}
	requireNear(t, "ExpiresAt", sess.ExpiresAt, before.Add(30*24*time.Hour), time.Minute)
	if sess.User.Username != "admin" || sess.User.Role != "admin" || sess.User.ID == "" || sess.User.TOTPEnabled {
		t.Fatalf("user %+v: want the admin account without TOTP", sess.User)
	}
	// A result printed by accident must not leak the secret.
	for _, printed := range []string{fmt.Sprint(sess), fmt.Sprintf("%+v", *sess), fmt.Sprintf("%#v", *sess)} {
		if strings.Contains(printed, sess.Token.Expose()) {
			t.Fatalf("printing the session reveals its token: %s", printed)
		}
	}
	info, err := serviceClient(t).Introspect(testContext(t), sess.Token.Expose())
	if err != nil || !info.Active || info.TokenID != sess.TokenID || info.Subject != sess.User.ID {
		t.Fatalf("introspecting the new session: %+v, %v", info, err)
	}
}

func TestLoginRefusesBadCredentialsAlike(t *testing.T) {
	c := dial(t, "")
	ctx := testContext(t)
	_, wrongPassword := c.Login(ctx, tessera.Credentials{Username: "alice", Password: "not-her-password"})
	e1 := requireError(t, wrongPassword, tessera.ErrInvalidCredentials, tessera.ReasonInvalidCredentials, codes.Unauthenticated, "")
	_, unknownUser := c.Login(ctx, tessera.Credentials{Username: "nobody-at-all", Password: "whatever-pw"})
	e2 := requireError(t, unknownUser, tessera.ErrInvalidCredentials, tessera.ReasonInvalidCredentials, codes.Unauthenticated, "")
	if e1.Message != e2.Message {
		t.Fatalf("unknown user and wrong password answer differently: %q vs %q", e1.Message, e2.Message)
	}
	_, empty := c.Login(ctx, tessera.Credentials{Username: "", Password: "x"})
	requireError(t, empty, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "username")
	// alice's one failure is wiped by a success, so later tests can use her.
	login(t, "alice", alicePassword)
}

func TestRepeatedFailuresLockTheAccount(t *testing.T) {
	c := dial(t, "")
	ctx := testContext(t)
	for attempt := 1; attempt <= maxFailedLogins; attempt++ {
		_, err := c.Login(ctx, tessera.Credentials{Username: "mallory", Password: "guess-" + fmt.Sprint(attempt)})
		requireError(t, err, tessera.ErrInvalidCredentials, tessera.ReasonInvalidCredentials, codes.Unauthenticated, "")
	}
	// Locked now: even the right password is refused, with the same answer as a wrong one, so a
	// lockout does not reveal that the account exists.
	_, err := c.Login(ctx, tessera.Credentials{Username: "mallory", Password: malloryPassword})
	requireError(t, err, tessera.ErrInvalidCredentials, tessera.ReasonInvalidCredentials, codes.Unauthenticated, "")
}

func TestTOTPAccount(t *testing.T) {
	s := server(t)
	seed := addTOTPUser(t, s, "tina", tinaPassword)
	c := dial(t, "")
	ctx := testContext(t)

	_, err := c.Login(ctx, tessera.Credentials{Username: "tina", Password: tinaPassword})
	requireError(t, err, tessera.ErrMfaRequired, tessera.ReasonMfaRequired, codes.FailedPrecondition, "")

	_, err = c.Login(ctx, tessera.Credentials{Username: "tina", Password: tinaPassword, TOTPCode: seed.wrongCode(time.Now())})
	requireError(t, err, tessera.ErrInvalidCredentials, tessera.ReasonInvalidCredentials, codes.Unauthenticated, "")

	sess, err := c.Login(ctx, tessera.Credentials{Username: "tina", Password: tinaPassword, TOTPCode: seed.code(time.Now())})
	if err != nil {
		t.Fatalf("login with the current TOTP code: %v", err)
	}
	if !sess.User.TOTPEnabled {
		t.Fatalf("user %+v: want TOTPEnabled", sess.User)
	}
}

func TestUnlockElevatesASession(t *testing.T) {
	s := server(t)
	ctx := testContext(t)
	admin := adminClient(t)

	before := time.Now()
	elevation, err := admin.Unlock(ctx, tessera.UnlockParams{Password: s.Ready.AdminPassword, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(elevation.Token.Expose(), "tsr_elv_") || elevation.TokenID == "" {
		t.Fatalf("elevation %+v: want a tsr_elv_ token", elevation)
	}
	requireNear(t, "ExpiresAt", elevation.ExpiresAt, before.Add(5*time.Minute), 30*time.Second)
	info, err := serviceClient(t).Introspect(ctx, elevation.Token.Expose())
	if err != nil || !info.Active || !info.Elevated || info.TokenType != tessera.TokenTypeElevated {
		t.Fatalf("introspecting the elevated token: %+v, %v", info, err)
	}

	// Above the configured cap (15m): the server names the field.
	_, err = admin.Unlock(ctx, tessera.UnlockParams{Password: s.Ready.AdminPassword, TTL: 2 * time.Hour})
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "ttl")
	// Refused before sending.
	_, err = admin.Unlock(ctx, tessera.UnlockParams{Password: s.Ready.AdminPassword, TTL: -time.Minute})
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "ttl")

	// A user may not elevate with her own password, only with the break-glass root password.
	alice := dial(t, login(t, "alice", alicePassword).Token.Expose())
	_, err = alice.Unlock(ctx, tessera.UnlockParams{Password: alicePassword})
	requireError(t, err, tessera.ErrInvalidCredentials, tessera.ReasonInvalidCredentials, codes.Unauthenticated, "")
	if _, err := alice.Unlock(ctx, tessera.UnlockParams{Password: rootPassword, TTL: time.Minute}); err != nil {
		t.Fatalf("unlock with the root password: %v", err)
	}
	login(t, "alice", alicePassword) // reset her failure count

	// Only a session may unlock.
	api := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
	_, err = dial(t, api.Token.Expose()).Unlock(ctx, tessera.UnlockParams{Password: s.Ready.AdminPassword})
	requireError(t, err, tessera.ErrAuthDenied, tessera.ReasonAuthDenied, codes.PermissionDenied, "")

	_, err = dial(t, "").Unlock(ctx, tessera.UnlockParams{Password: s.Ready.AdminPassword})
	requireError(t, err, tessera.ErrAuthRequired, tessera.ReasonAuthRequired, codes.Unauthenticated, "")
}

func TestIssueTokenDerivesFromTheCaller(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	before := time.Now()
	tok, err := admin.IssueToken(ctx, tessera.IssueParams{
		TTL:         time.Hour + 30*time.Minute + 15*time.Second,
		MaxUses:     2,
		Namespace:   "deploy.",
		Permissions: []string{"introspect"},
		Description: "go client test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token.Expose(), "tsr_api_") || tok.TokenID == "" || tok.Namespace != "deploy." ||
		!slices.Equal(tok.Permissions, []string{"introspect"}) || tok.MaxUses != 2 {
		t.Fatalf("issued %+v: want an api token in deploy. with introspect and 2 uses", tok)
	}
	requireNear(t, "ExpiresAt", tok.ExpiresAt, before.Add(time.Hour+30*time.Minute+15*time.Second), 30*time.Second)

	// Days and weeks reach the server in its grammar ("1w1d1h").
	long := issue(t, admin, tessera.IssueParams{TTL: 8*24*time.Hour + time.Hour})
	requireNear(t, "ExpiresAt", long.ExpiresAt, before.Add(8*24*time.Hour+time.Hour), time.Minute)
	if long.MaxUses != 0 || long.Namespace != "*" {
		t.Fatalf("issued %+v: want the caller's namespace and no use limit", long)
	}

	svc := issue(t, admin, tessera.IssueParams{Service: true, Permissions: []string{"introspect"}, TTL: time.Hour})
	if !strings.HasPrefix(svc.Token.Expose(), "tsr_svc_") {
		t.Fatalf("service token %q: want prefix tsr_svc_", svc.Token.Expose()[:8])
	}
	info, err := serviceClient(t).Introspect(ctx, svc.Token.Expose())
	if err != nil || info.TokenType != tessera.TokenTypeService {
		t.Fatalf("introspecting the service token: %+v, %v", info, err)
	}
}

func TestIssueTokenErrors(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)

	_, err := dial(t, "").IssueToken(ctx, tessera.IssueParams{})
	requireError(t, err, tessera.ErrAuthRequired, tessera.ReasonAuthRequired, codes.Unauthenticated, "")

	_, err = dial(t, "tsr_api_not-a-real-token").IssueToken(ctx, tessera.IssueParams{})
	requireError(t, err, tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated, "")

	// The dev service token holds only introspect, not issue.
	_, err = serviceClient(t).IssueToken(ctx, tessera.IssueParams{})
	requireError(t, err, tessera.ErrAuthDenied, tessera.ReasonAuthDenied, codes.PermissionDenied, "")

	// A child never exceeds its parent.
	parent := issue(t, admin, tessera.IssueParams{TTL: time.Hour, Namespace: "deploy.", Permissions: []string{"issue", "introspect"}})
	child := dial(t, parent.Token.Expose())
	_, err = child.IssueToken(ctx, tessera.IssueParams{Namespace: "*"})
	requireError(t, err, tessera.ErrPrivilegeExceeded, tessera.ReasonPrivilegeExceeded, codes.PermissionDenied, "")
	_, err = child.IssueToken(ctx, tessera.IssueParams{TTL: 2 * time.Hour})
	requireError(t, err, tessera.ErrPrivilegeExceeded, tessera.ReasonPrivilegeExceeded, codes.PermissionDenied, "")
	_, err = child.IssueToken(ctx, tessera.IssueParams{Permissions: []string{"admin"}})
	requireError(t, err, tessera.ErrPrivilegeExceeded, tessera.ReasonPrivilegeExceeded, codes.PermissionDenied, "")
	if narrower, err := child.IssueToken(ctx, tessera.IssueParams{Namespace: "deploy.daily.", TTL: time.Minute}); err != nil || narrower.Namespace != "deploy.daily." {
		t.Fatalf("a narrower child: %+v, %v", narrower, err)
	}

	// A service token with admin rights is refused.
	_, err = admin.IssueToken(ctx, tessera.IssueParams{Service: true, Permissions: []string{"*"}})
	requireError(t, err, tessera.ErrOverPrivileged, tessera.ReasonOverPrivileged, codes.PermissionDenied, "")

	_, err = admin.IssueToken(ctx, tessera.IssueParams{Namespace: "has space"})
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "namespace")
	_, err = admin.IssueToken(ctx, tessera.IssueParams{TTL: 500 * time.Millisecond})
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "ttl")
}

func TestIntrospect(t *testing.T) {
	s := server(t)
	ctx := testContext(t)
	svc := serviceClient(t)

	info, err := svc.Introspect(ctx, s.Ready.AdminToken, tessera.Peek())
	if err != nil {
		t.Fatal(err)
	}
	id := info.Identity
	if !info.Active || id.Username != "admin" || !slices.Contains(id.Roles, "admin") || !slices.Contains(id.Permissions, "*") ||
		id.Namespace != "*" || id.TokenType != tessera.TokenTypeSession || id.Subject == "" || id.SessionID == "" ||
		id.UsesRemaining != tessera.UnlimitedUses || id.Elevated {
		t.Fatalf("admin session identity %+v", id)
	}
	if !id.IssuedAt.Before(time.Now()) || !id.ExpiresAt.After(time.Now()) {
		t.Fatalf("issued %v, expires %v: want issued in the past, expiring in the future", id.IssuedAt, id.ExpiresAt)
	}

	// A limited-use token: Peek counts nothing, each Introspect counts one use.
	limited := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, MaxUses: 2})
	for i, want := range []struct {
		peek   bool
		active bool
		left   int
	}{{true, true, 2}, {false, true, 1}, {false, true, 0}, {false, false, 0}} {
		var opts []tessera.IntrospectOption
		if want.peek {
			opts = append(opts, tessera.Peek())
		}
		got, err := svc.Introspect(ctx, limited.Token.Expose(), opts...)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got.Active != want.active || (want.active && got.UsesRemaining != want.left) {
			t.Fatalf("call %d: active %v uses %d, want %v %d", i, got.Active, got.UsesRemaining, want.active, want.left)
		}
		if !got.Active && (got.TokenID != "" || got.Username != "") {
			t.Fatalf("call %d: an inactive answer carries %+v; it must say nothing more", i, got.Identity)
		}
	}

	if got, err := svc.Introspect(ctx, "tsr_api_0000000000000000000000000000000000000000000000000"); err != nil || got.Active {
		t.Fatalf("unknown token: %+v, %v; want inactive", got, err)
	}
	_, err = svc.Introspect(ctx, "")
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "token")

	noIntrospect := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, Permissions: []string{"issue"}})
	_, err = dial(t, noIntrospect.Token.Expose()).Introspect(ctx, s.Ready.AdminToken)
	requireError(t, err, tessera.ErrAuthDenied, tessera.ReasonAuthDenied, codes.PermissionDenied, "")
}

func TestCheckNamespace(t *testing.T) {
	ctx := testContext(t)
	svc := serviceClient(t)
	tok := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, MaxUses: 1, Namespace: "deploy.", Permissions: []string{"introspect"}})

	decision, err := svc.CheckNamespace(ctx, tessera.NamespaceQuery{
		Token:       tok.Token.Expose(),
		Identifiers: []string{"deploy.daily", "deploy.", "backup.x", "deploy"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []tessera.IdentifierDecision{{"deploy.daily", true}, {"deploy.", true}, {"backup.x", false}, {"deploy", false}}
	if !decision.Active || decision.Allowed || !slices.Equal(decision.Results, want) || decision.Namespace != "deploy." || decision.TokenID != tok.TokenID {
		t.Fatalf("decision %+v, want results %v and not allowed", decision, want)
	}
	for _, c := range []struct {
		action  string
		allowed bool
	}{{"", true}, {"introspect", true}, {"jobs:write", false}} {
		d, err := svc.CheckNamespace(ctx, tessera.NamespaceQuery{Token: tok.Token.Expose(), Identifiers: []string{"deploy.a", "deploy.b"}, Action: c.action})
		if err != nil || !d.Active || d.Allowed != c.allowed {
			t.Fatalf("action %q: %+v, %v; want allowed %v", c.action, d, err, c.allowed)
		}
	}
	// None of those calls used the single use.
	if info, err := svc.Introspect(ctx, tok.Token.Expose(), tessera.Peek()); err != nil || !info.Active || info.UsesRemaining != 1 {
		t.Fatalf("after CheckNamespace: %+v, %v; want the single use untouched", info, err)
	}

	if d, err := svc.CheckNamespace(ctx, tessera.NamespaceQuery{Token: "tsr_api_unknown", Identifiers: []string{"deploy.a"}}); err != nil || d.Active || d.Allowed {
		t.Fatalf("unknown token: %+v, %v; want inactive", d, err)
	}
	_, err = svc.CheckNamespace(ctx, tessera.NamespaceQuery{Token: tok.Token.Expose(), Identifiers: []string{"has space"}})
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "identifiers")
	_, err = svc.CheckNamespace(ctx, tessera.NamespaceQuery{Token: tok.Token.Expose()})
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "identifiers")
}

func TestRevoke(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	svc := serviceClient(t)
	active := func(token string) bool {
		t.Helper()
		info, err := svc.Introspect(ctx, token, tessera.Peek())
		if err != nil {
			t.Fatal(err)
		}
		return info.Active
	}

	t.Run("by token", func(t *testing.T) {
		tok := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
		// Holding the secret is enough: no bearer token needed beyond any valid one.
		n, err := dial(t, tok.Token.Expose()).Revoke(ctx, tessera.ByToken(tok.Token.Expose()), "test")
		if err != nil || n != 1 || active(tok.Token.Expose()) {
			t.Fatalf("revoked %d, %v; still active %v", n, err, active(tok.Token.Expose()))
		}
		// Using a revoked token fails as AUTH_FAILED.
		_, err = dial(t, tok.Token.Expose()).IssueToken(ctx, tessera.IssueParams{})
		requireError(t, err, tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated, "")
	})

	t.Run("by token id with descendants", func(t *testing.T) {
		parent := issue(t, admin, tessera.IssueParams{TTL: time.Hour, Permissions: []string{"issue", "introspect"}})
		child := issue(t, dial(t, parent.Token.Expose()), tessera.IssueParams{TTL: time.Minute})
		n, err := admin.Revoke(ctx, tessera.ByTokenID(parent.TokenID), "test")
		if err != nil || n != 2 || active(parent.Token.Expose()) || active(child.Token.Expose()) {
			t.Fatalf("revoked %d, %v; want parent and child gone", n, err)
		}
	})

	t.Run("by session", func(t *testing.T) {
		sess := login(t, "carol", carolPassword)
		carol := dial(t, sess.Token.Expose())
		child := issue(t, carol, tessera.IssueParams{TTL: time.Minute})
		n, err := carol.Revoke(ctx, tessera.BySession(sess.SessionID), "log out")
		if err != nil || n != 2 || active(sess.Token.Expose()) || active(child.Token.Expose()) {
			t.Fatalf("revoked %d, %v; want the session and its child gone", n, err)
		}
	})

	t.Run("by subject needs admin rights", func(t *testing.T) {
		first, second := login(t, "carol", carolPassword), login(t, "carol", carolPassword)
		alice := dial(t, login(t, "alice", alicePassword).Token.Expose())
		_, err := alice.Revoke(ctx, tessera.BySubject(first.User.ID), "not hers")
		requireError(t, err, tessera.ErrElevationRequired, tessera.ReasonElevationRequired, codes.PermissionDenied, "")
		_, err = alice.Revoke(ctx, tessera.ByTokenID(first.TokenID), "not hers")
		requireError(t, err, tessera.ErrElevationRequired, tessera.ReasonElevationRequired, codes.PermissionDenied, "")

		// Elevated with the root password, alice may.
		elevation, err := alice.Unlock(ctx, tessera.UnlockParams{Password: rootPassword, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		n, err := alice.WithToken(elevation.Token.Expose()).Revoke(ctx, tessera.BySubject(first.User.ID), "offboarding")
		if err != nil || n < 2 || active(first.Token.Expose()) || active(second.Token.Expose()) {
			t.Fatalf("revoked %d, %v; want both of carol's sessions gone", n, err)
		}
		// Locking again is revoking the elevation.
		if n, err := alice.Revoke(ctx, tessera.ByTokenID(elevation.TokenID), "done"); err != nil || n != 1 {
			t.Fatalf("lock: %d, %v", n, err)
		}
	})

	t.Run("bad targets", func(t *testing.T) {
		_, err := admin.Revoke(ctx, tessera.RevokeTarget{}, "")
		requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "target")
		_, err = admin.Revoke(ctx, tessera.ByTokenID("not-a-uuid"), "")
		requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "token_id")
		_, err = dial(t, "").Revoke(ctx, tessera.ByTokenID("6f1c2a5e-0000-4000-8000-000000000000"), "")
		requireError(t, err, tessera.ErrAuthRequired, tessera.ReasonAuthRequired, codes.Unauthenticated, "")
	})
}

func TestLoginFloodIsRefusedQuickly(t *testing.T) {
	// The shared server verifies one password at a time with none waiting: of simultaneous logins,
	// some are refused at once with RESOURCE_EXHAUSTED instead of queueing.
	c := dial(t, "")
	ctx := testContext(t)
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 12)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Login(ctx, tessera.Credentials{Username: fmt.Sprintf("flood-%d-%d", round, i), Password: "irrelevant-pw"})
			}()
		}
		wg.Wait()
		exhausted := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, tessera.ErrResourceExhausted):
				requireError(t, err, tessera.ErrResourceExhausted, tessera.ReasonResourceExhausted, codes.ResourceExhausted, "")
				exhausted++
			case errors.Is(err, tessera.ErrInvalidCredentials):
			default:
				t.Fatalf("flood login: %v; want RESOURCE_EXHAUSTED or INVALID_CREDENTIALS", err)
			}
		}
		if exhausted > 0 {
			return
		}
	}
	t.Fatal("no login of five floods of 12 was refused with RESOURCE_EXHAUSTED")
}

func TestVerifyServiceToken(t *testing.T) {
	ctx := testContext(t)
	if err := serviceClient(t).VerifyServiceToken(ctx); err != nil {
		t.Fatalf("the dev service token: %v", err)
	}
	err := adminClient(t).VerifyServiceToken(ctx)
	requireError(t, err, tessera.ErrOverPrivileged, tessera.ReasonOverPrivileged, codes.PermissionDenied, "")
	noIntrospect := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, Permissions: []string{"issue"}})
	err = dial(t, noIntrospect.Token.Expose()).VerifyServiceToken(ctx)
	requireError(t, err, tessera.ErrAuthDenied, tessera.ReasonAuthDenied, codes.PermissionDenied, "")
	err = dial(t, "tsr_svc_unknown").VerifyServiceToken(ctx)
	requireError(t, err, tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated, "")
}

// A bare host:port is plaintext, as in every Tessera client: the dev server's ready file gives
// one, and a Go service handed it must reach the server (it used to try TLS and fail).
func TestABareAddressReachesAPlaintextServer(t *testing.T) {
	s := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := tessera.Dial(ctx, s.Ready.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	info, err := client.WithToken(s.Ready.ServiceToken).Introspect(ctx, s.Ready.AdminToken, tessera.Peek())
	if err != nil {
		t.Fatalf("Introspect over %s: %v", s.Ready.GRPCAddr, err)
	}
	if !info.Active {
		t.Errorf("the admin token is not active: %+v", info)
	}
}
