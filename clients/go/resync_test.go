package tessera_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// TestWatchRevocationsResyncsAfterPruning runs a server of its own whose revocation feed keeps one
// second (swept every second): a watch resuming from a pruned sequence is told ErrResyncRequired with
// the oldest retained sequence, and goes on from 0, after OnWatchResync or after the consumer's
// continue, never past a silent gap.
func TestWatchRevocationsResyncsAfterPruning(t *testing.T) {
	srv, err := startServer(server(t).bin, filepath.Join(scratch, "pruning"), []string{
		"TESSERA_REVOCATION_RETENTION=1s",
		"TESSERA_REVOCATION_RETENTION_RESYNC=true",
		"TESSERA_SWEEP_INTERVAL=1s",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	ctx := testContext(t)
	admin := dialAddr(t, srv.Ready.GRPCAddr, srv.Ready.AdminToken)
	svc := dialAddr(t, srv.Ready.GRPCAddr, srv.Ready.ServiceToken)

	var ids []string
	for range 3 {
		tok := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
		if _, err := admin.Revoke(ctx, tessera.ByTokenID(tok.TokenID), "pruned"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.TokenID)
	}
	var last uint64
	first := awaitRevocation(t, watch(t, svc, 0), ids[0], &last).Sequence

	// Poll until the sweeper has pruned past the first: a watch from it then fails at once.
	var resync *tessera.Error
	deadline := time.Now().Add(30 * time.Second)
	for resync == nil {
		if time.Now().After(deadline) {
			t.Fatal("the feed was not pruned within 30s")
		}
		probe := watch(t, svc, first)
		select {
		case ev := <-probe:
			if ev.err != nil {
				if !errors.Is(ev.err, tessera.ErrResyncRequired) || !errors.As(ev.err, &resync) {
					t.Fatalf("watch from a pruned sequence: %v, want ErrResyncRequired", ev.err)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the probe watch got nothing")
		}
		if resync == nil {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if resync.Code != codes.FailedPrecondition || resync.Reason != tessera.ReasonResyncRequired {
		t.Fatalf("resync error %+v", resync)
	}
	if resync.OldestSequence <= first+1 {
		t.Fatalf("oldest retained %d, want past %d+1", resync.OldestSequence, first)
	}

	// Without OnWatchResync: the error is yielded, and a loop that continues replays from 0.
	events := watch(t, svc, first)
	ev := <-events
	if !errors.Is(ev.err, tessera.ErrResyncRequired) {
		t.Fatalf("first event %+v, want ErrResyncRequired", ev)
	}
	select {
	case ev := <-events:
		if ev.err != nil || ev.rev.Sequence < resync.OldestSequence {
			t.Fatalf("after the resync: %+v, want a retained revocation", ev)
		}
	case <-time.After(callTimeout):
		t.Fatal("the watch did not go on from 0")
	}

	// With OnWatchResync: the consumer's cache is dropped and only revocations follow.
	dropped := make(chan uint64, 1)
	events = watch(t, svc, first, tessera.OnWatchResync(func(oldest uint64) { dropped <- oldest }))
	select {
	case ev := <-events:
		if ev.err != nil || ev.rev.Sequence < resync.OldestSequence {
			t.Fatalf("with OnWatchResync: %+v, want a retained revocation", ev)
		}
	case <-time.After(callTimeout):
		t.Fatal("the watch with OnWatchResync got nothing")
	}
	select {
	case oldest := <-dropped:
		if oldest < resync.OldestSequence {
			t.Fatalf("OnWatchResync(%d), want at least %d", oldest, resync.OldestSequence)
		}
	default:
		t.Fatal("OnWatchResync was not called before the replay")
	}
}
