package tessera

import (
	"context"
	"errors"
	"io"
	"iter"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/tessera-auth/tessera/clients/go/gen/tessera/v1"
)

// WatchOption configures WatchRevocations.
type WatchOption func(*watchConfig)

type watchConfig struct {
	minBackoff, maxBackoff time.Duration
	onRetry                func(error)
	onResync               func(oldestSequence uint64)
}

// WatchBackoff sets the wait before reconnecting after a failure: min at first, doubling up to max
// while failures repeat (defaults 100ms and 5s).
func WatchBackoff(minWait, maxWait time.Duration) WatchOption {
	return func(c *watchConfig) {
		if minWait > 0 {
			c.minBackoff = minWait
		}
		if maxWait >= c.minBackoff {
			c.maxBackoff = maxWait
		}
	}
}

// OnWatchRetry calls fn with each transient failure before the watch reconnects, e.g. to log it.
func OnWatchRetry(fn func(error)) WatchOption {
	return func(c *watchConfig) { c.onRetry = fn }
}

// OnWatchResync calls fn when the server has pruned revocations after the watch's resume point
// (ErrResyncRequired): fn must drop every verdict cached from the feed; the watch then goes on from
// sequence 0 by itself. Without it, the watch yields the ErrResyncRequired error and, if the loop
// continues, goes on from 0 the same way.
func OnWatchResync(fn func(oldestSequence uint64)) WatchOption {
	return func(c *watchConfig) { c.onResync = fn }
}

// WatchRevocations streams every revocation with a sequence number above afterSequence (0: every
// one the server retains), in order, then each new one as it happens:
//
//	for rev, err := range client.WatchRevocations(ctx, lastSeen) {
//		if err != nil {
//			return err // permanent: bad token, missing permission, ctx ended
//		}
//		cache.Evict(rev.TokenHash)
//		lastSeen = rev.Sequence
//	}
//
// When the connection or the server fails, the watch reconnects by itself with backoff and resumes
// after the last sequence it yielded, so nothing is missed or repeated. It ends with an error only
// when the failure is permanent (ErrAuthFailed, ErrAuthDenied, …) or ctx ends (ctx.Err()). The
// client's token needs the introspect permission. The default deadline does not apply.
//
// A resume point older than the server's retention is answered ErrResyncRequired: what was missed
// is gone, so the consumer drops its cache (see OnWatchResync) and the watch replays from 0:
//
//	for rev, err := range client.WatchRevocations(ctx, lastSeen) {
//		if errors.Is(err, tessera.ErrResyncRequired) {
//			cache.Clear() // the watch continues from sequence 0
//			continue
//		}
//		…
//	}
func (c *Client) WatchRevocations(ctx context.Context, afterSequence uint64, opts ...WatchOption) iter.Seq2[Revocation, error] {
	cfg := watchConfig{minBackoff: 100 * time.Millisecond, maxBackoff: 5 * time.Second}
	for _, opt := range opts {
		opt(&cfg)
	}
	return func(yield func(Revocation, error) bool) {
		last := afterSequence
		wait := cfg.minBackoff
		for {
			progressed, stop, err := c.watchOnce(ctx, &last, yield)
			if stop {
				return
			}
			if ctx.Err() != nil {
				yield(Revocation{}, ctx.Err())
				return
			}
			if errors.Is(err, ErrResyncRequired) {
				// Never resume past a gap: start over once the consumer has dropped its cache.
				last = 0
				if cfg.onResync != nil {
					var e *Error
					var oldest uint64
					if errors.As(err, &e) {
						oldest = e.OldestSequence
					}
					cfg.onResync(oldest)
				} else if !yield(Revocation{}, err) {
					return
				}
				wait = cfg.minBackoff
				continue
			}
			if !retryable(err) {
				yield(Revocation{}, err)
				return
			}
			if cfg.onRetry != nil {
				cfg.onRetry(err)
			}
			if progressed {
				wait = cfg.minBackoff
			}
			// Full jitter keeps a fleet of edges from reconnecting in lockstep after an outage.
			timer := time.NewTimer(wait/2 + rand.N(wait/2+1))
			select {
			case <-ctx.Done():
				timer.Stop()
				yield(Revocation{}, ctx.Err())
				return
			case <-timer.C:
			}
			wait = min(2*wait, cfg.maxBackoff)
		}
	}
}

// watchOnce runs one stream from *last until it fails. progressed reports whether anything arrived;
// stop that the consumer broke out of the loop.
func (c *Client) watchOnce(ctx context.Context, last *uint64, yield func(Revocation, error) bool) (progressed, stop bool, err error) {
	ctx, cancel := context.WithCancel(c.withOwnToken(ctx))
	defer cancel()
	stream, err := c.rpc.WatchRevocations(ctx, &pb.WatchRevocationsRequest{AfterSequence: *last})
	if err != nil {
		return false, false, fromError(err)
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return progressed, false, fromError(err)
		}
		progressed = true
		rev := revocationFromPB(msg)
		if rev.Sequence <= *last {
			continue // already yielded before a reconnect
		}
		*last = rev.Sequence
		if !yield(rev, nil) {
			return progressed, true, nil
		}
	}
}

// retryable reports failures a watch should ride out by reconnecting: the stream ending, Tessera or
// its database being unavailable or busy, and transport failures that carry no Tessera reason.
func retryable(err error) bool {
	if errors.Is(err, io.EOF) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Reason {
	case ReasonUnavailable, ReasonResourceExhausted:
		return true
	case "":
		switch e.Code {
		case codes.Unavailable, codes.Internal, codes.Unknown, codes.Aborted, codes.ResourceExhausted, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}
