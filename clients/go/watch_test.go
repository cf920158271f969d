package tessera_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// watchEvent is one item of a WatchRevocations loop.
type watchEvent struct {
	rev tessera.Revocation
	err error
}

// watch runs WatchRevocations in the background until the test ends, forwarding every item.
func watch(t *testing.T, c *tessera.Client, after uint64, opts ...tessera.WatchOption) <-chan watchEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan watchEvent, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(events)
		for rev, err := range c.WatchRevocations(ctx, after, opts...) {
			select {
			case events <- watchEvent{rev, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return events
}

// awaitRevocation reads events until the revocation of tokenID arrives; it checks that sequences only
// grow on the way.
func awaitRevocation(t *testing.T, events <-chan watchEvent, tokenID string, last *uint64) tessera.Revocation {
	t.Helper()
	timeout := time.After(callTimeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the watch ended before %s was revoked", tokenID)
			}
			if ev.err != nil {
				t.Fatalf("watch: %v", ev.err)
			}
			if ev.rev.Sequence <= *last {
				t.Fatalf("sequence %d after %d: repeated or out of order", ev.rev.Sequence, *last)
			}
			*last = ev.rev.Sequence
			if ev.rev.TokenID == tokenID {
				return ev.rev
			}
		case <-timeout:
			t.Fatalf("no revocation of %s within %v", tokenID, callTimeout)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestWatchRevocationsDeliversARevocation(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	events := watch(t, serviceClient(t), 0)

	tok := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
	before := time.Now()
	if _, err := admin.Revoke(ctx, tessera.ByTokenID(tok.TokenID), "watch test"); err != nil {
		t.Fatal(err)
	}
	var last uint64
	rev := awaitRevocation(t, events, tok.TokenID, &last)
	if rev.TokenHash != sha256Hex(tok.Token.Expose()) {
		t.Fatalf("token hash %s, want the SHA-256 of the secret", rev.TokenHash)
	}
	requireNear(t, "RevokedAt", rev.RevokedAt, before, time.Minute)

	// A watch resumed after that sequence does not see it again, only what follows.
	resumed := watch(t, serviceClient(t), rev.Sequence)
	next := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
	if _, err := admin.Revoke(ctx, tessera.ByToken(next.Token.Expose()), "watch test"); err != nil {
		t.Fatal(err)
	}
	after := rev.Sequence
	select {
	case ev := <-resumed:
		if ev.err != nil || ev.rev.TokenID != next.TokenID || ev.rev.Sequence <= after {
			t.Fatalf("first event after %d: %+v; want the revocation of %s", after, ev, next.TokenID)
		}
	case <-time.After(callTimeout):
		t.Fatal("the resumed watch got nothing")
	}
}

func TestWatchRevocationsResumesAfterReconnect(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	proxy := startProxy(t, server(t).Ready.GRPCAddr)
	retried := make(chan error, 16)
	events := watch(t, dialAddr(t, proxy.addr(), server(t).Ready.ServiceToken), 0,
		tessera.WatchBackoff(20*time.Millisecond, 200*time.Millisecond),
		tessera.OnWatchRetry(func(err error) { retried <- err }))

	first := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
	if _, err := admin.Revoke(ctx, tessera.ByTokenID(first.TokenID), "before the cut"); err != nil {
		t.Fatal(err)
	}
	var last uint64
	awaitRevocation(t, events, first.TokenID, &last)

	if proxy.cut() == 0 {
		t.Fatal("the watch had no connection through the proxy")
	}
	select {
	case err := <-retried:
		if !errors.Is(err, tessera.ErrUnavailable) {
			t.Logf("the cut surfaced as %v", err)
		}
	case <-time.After(callTimeout):
		t.Fatal("the watch did not notice the cut connection")
	}

	second := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
	if _, err := admin.Revoke(ctx, tessera.ByTokenID(second.TokenID), "after the cut"); err != nil {
		t.Fatal(err)
	}
	// Arrives on the new connection; awaitRevocation fails on any repeat of what came before.
	awaitRevocation(t, events, second.TokenID, &last)
}

func TestWatchRevocationsEndsOnPermanentErrors(t *testing.T) {
	noIntrospect := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, Permissions: []string{"issue"}})
	for _, c := range []struct {
		name     string
		token    string
		sentinel error
		reason   tessera.Reason
		code     codes.Code
	}{
		{"no token", "", tessera.ErrAuthRequired, tessera.ReasonAuthRequired, codes.Unauthenticated},
		{"bad token", "tsr_svc_bogus", tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated},
		{"no introspect", noIntrospect.Token.Expose(), tessera.ErrAuthDenied, tessera.ReasonAuthDenied, codes.PermissionDenied},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []watchEvent
			for ev := range watch(t, dial(t, c.token), 0) {
				got = append(got, ev)
			}
			if len(got) != 1 {
				t.Fatalf("got %d events, want exactly one error: %+v", len(got), got)
			}
			requireError(t, got[0].err, c.sentinel, c.reason, c.code, "")
		})
	}
}
