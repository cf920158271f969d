package tessera

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/tessera-auth/tessera/clients/go/gen/tessera/v1"
)

// scriptedWatch is an AuthService whose WatchRevocations plays one scripted round per call,
// recording each after_sequence and bearer token it was asked with.
type scriptedWatch struct {
	pb.UnimplementedAuthServiceServer
	rounds []func(pb.AuthService_WatchRevocationsServer) error

	mu     sync.Mutex
	afters []uint64
	tokens []string
}

func (s *scriptedWatch) WatchRevocations(req *pb.WatchRevocationsRequest, stream pb.AuthService_WatchRevocationsServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	s.mu.Lock()
	round := len(s.afters)
	s.afters = append(s.afters, req.GetAfterSequence())
	s.tokens = append(s.tokens, md.Get("authorization")...)
	s.mu.Unlock()
	if round >= len(s.rounds) {
		<-stream.Context().Done()
		return nil
	}
	return s.rounds[round](stream)
}

func (s *scriptedWatch) calls() ([]uint64, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.afters), slices.Clone(s.tokens)
}

func send(stream pb.AuthService_WatchRevocationsServer, sequences ...uint64) error {
	for _, seq := range sequences {
		if err := stream.Send(&pb.WatchRevocationsResponse{Sequence: seq, TokenId: "t", TokenHash: "h"}); err != nil {
			return err
		}
	}
	return nil
}

// fakeTessera serves impl on loopback and returns a client for it.
func fakeTessera(t *testing.T, impl pb.AuthServiceServer) *Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterAuthServiceServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	c, err := Dial(context.Background(), lis.Addr().String(), WithInsecure(), WithToken("svc"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func fastRetry(retries *[]error) []WatchOption {
	return []WatchOption{WatchBackoff(time.Millisecond, 5*time.Millisecond), OnWatchRetry(func(err error) { *retries = append(*retries, err) })}
}

func TestWatchResumesFromTheLastSequence(t *testing.T) {
	fake := &scriptedWatch{rounds: []func(pb.AuthService_WatchRevocationsServer) error{
		func(s pb.AuthService_WatchRevocationsServer) error {
			if err := send(s, 5, 6); err != nil {
				return err
			}
			return statusWithReason(codes.Unavailable, ReasonUnavailable, "database unreachable").Err()
		},
		func(s pb.AuthService_WatchRevocationsServer) error {
			return send(s, 6, 7) // 6 again: a server replaying what was already seen; then the stream ends
		},
		func(s pb.AuthService_WatchRevocationsServer) error {
			return status.Error(codes.Unavailable, "transport reset") // no reason: still transient
		},
		func(s pb.AuthService_WatchRevocationsServer) error {
			if err := send(s, 8); err != nil {
				return err
			}
			<-s.Context().Done()
			return nil
		},
	}}
	c := fakeTessera(t, fake)
	var retries []error
	var got []uint64
	for rev, err := range c.WatchRevocations(context.Background(), 4, fastRetry(&retries)...) {
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		got = append(got, rev.Sequence)
		if rev.Sequence == 8 {
			break
		}
	}
	if !slices.Equal(got, []uint64{5, 6, 7, 8}) {
		t.Fatalf("yielded %v, want 5 6 7 8 once each", got)
	}
	afters, tokens := fake.calls()
	if !slices.Equal(afters, []uint64{4, 6, 7, 7}) {
		t.Fatalf("asked with after_sequence %v, want 4 6 7 7", afters)
	}
	if len(tokens) != 4 || tokens[0] != "Bearer svc" {
		t.Fatalf("stream metadata %q: want the client's token on every call", tokens)
	}
	if len(retries) != 3 || !errors.Is(retries[0], ErrUnavailable) || !errors.Is(retries[2], ErrUnavailable) {
		t.Fatalf("retries %v: want three transient failures reported", retries)
	}
}

func TestWatchStopsOnAPermanentError(t *testing.T) {
	fake := &scriptedWatch{rounds: []func(pb.AuthService_WatchRevocationsServer) error{
		func(s pb.AuthService_WatchRevocationsServer) error {
			if err := send(s, 1); err != nil {
				return err
			}
			return statusWithReason(codes.PermissionDenied, ReasonAuthDenied, "the caller's token lacks the introspect permission").Err()
		},
	}}
	var retries []error
	var errs []error
	var seqs []uint64
	for rev, err := range fakeTessera(t, fake).WatchRevocations(context.Background(), 0, fastRetry(&retries)...) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		seqs = append(seqs, rev.Sequence)
	}
	if !slices.Equal(seqs, []uint64{1}) || len(errs) != 1 || !errors.Is(errs[0], ErrAuthDenied) || len(retries) != 0 {
		t.Fatalf("got %v, errors %v, retries %v; want 1 then one ErrAuthDenied and no retry", seqs, errs, retries)
	}
}

func TestWatchEndsWithItsContext(t *testing.T) {
	fake := &scriptedWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	var errs []error
	for _, err := range fakeTessera(t, fake).WatchRevocations(ctx, 0) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("errors %v: want exactly context.Canceled", errs)
	}
}

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fromError(statusWithReason(codes.Unavailable, ReasonUnavailable, "").Err()), true},
		{fromError(statusWithReason(codes.ResourceExhausted, ReasonResourceExhausted, "").Err()), true},
		{fromError(status.Error(codes.Internal, "RST_STREAM")), true},
		{fromError(statusWithReason(codes.Internal, ReasonInternal, "no revocation feed").Err()), false},
		{fromError(statusWithReason(codes.Unauthenticated, ReasonAuthFailed, "").Err()), false},
		{fromError(statusWithReason(codes.InvalidArgument, ReasonInvalidArgument, "").Err()), false},
		{errors.New("something else"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
