package tessera_test

import (
	"slices"
	"testing"
	"time"
)

// nagleStall is what a reply held back by Nagle's algorithm costs: the client's delayed ACK
// (40 ms on Linux). A sequential median anywhere near it means the server's sockets lost
// TCP_NODELAY; a healthy loopback call takes well under a millisecond, so the bound below holds
// on a busy machine and still fails on a stall.
const nagleStall = 40 * time.Millisecond

// TestSequentialCallsDoNotWaitForDelayedAcks makes 50 sequential Introspect calls, as a grpc-go
// service would, and bounds their median far below a delayed ACK.
func TestSequentialCallsDoNotWaitForDelayedAcks(t *testing.T) {
	s := server(t)
	ctx := testContext(t)
	svc := serviceClient(t)
	// Warm the connection and the server's cache so the median measures the transport.
	for range 5 {
		if _, err := svc.Introspect(ctx, s.Ready.AdminToken); err != nil {
			t.Fatal(err)
		}
	}
	took := make([]time.Duration, 0, 50)
	for range 50 {
		start := time.Now()
		if _, err := svc.Introspect(ctx, s.Ready.AdminToken); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	median := took[len(took)/2]
	t.Logf("sequential Introspect from grpc-go: p50 %v, max %v", median, took[len(took)-1])
	if median >= nagleStall/2 {
		t.Fatalf("sequential p50 %v: calls are waiting for delayed ACKs (TCP_NODELAY off?)", median)
	}
}
