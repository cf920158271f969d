// Command tessera-load drives a Tessera server from grpc-go, through this module's client, the way
// a Go service calls it. tessera-bench runs it to put a grpc-go row beside each tonic row.
//
// It alternates the named calls in rounds (each call runs for one phase per round, all of them
// with the same connections and concurrency), so the ratios between calls come from the same
// stretch of time on a noisy machine. Each phase prints one JSON line on standard output.
//
//	tessera-load -addr 127.0.0.1:50051 -caller tsr_svc_… -target tsr_api_… \
//	    -calls check,introspect,checknamespace -rounds 5 -phase 2s -concurrency 16 -conns 4
//
// With -sequential N it instead makes N calls one after another per named call and reports
// their latency quantiles (the Nagle check).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// phase is one measured stretch of one call.
type phase struct {
	Call      string  `json:"call"`
	Round     int     `json:"round"`
	Calls     int64   `json:"calls"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	P50Micros float64 `json:"p50_us"`
	P99Micros float64 `json:"p99_us"`
	FirstErr  string  `json:"first_error,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "Tessera's gRPC address")
	caller := flag.String("caller", "", "the caller's token (needs introspect)")
	target := flag.String("target", "", "the token to introspect / check")
	calls := flag.String("calls", "check,introspect", "comma-separated: check, introspect, checknamespace")
	ids := flag.Int("ids", 10, "identifiers per CheckNamespace (half inside deploy.)")
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	phaseLen := flag.Duration("phase", 2*time.Second, "length of each measured phase")
	concurrency := flag.Int("concurrency", 16, "calls in flight")
	conns := flag.Int("conns", 4, "connections")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of every call, whatever its kind, as a service would set one (0: none)")
	sequential := flag.Int("sequential", 0, "instead of load: this many sequential calls per call kind")
	flag.Parse()
	if *caller == "" || *target == "" {
		fmt.Fprintln(os.Stderr, "tessera-load: -caller and -target are required")
		os.Exit(2)
	}
	ctx := context.Background()
	clients := make([]*tessera.Client, *conns)
	for i := range clients {
		c, err := tessera.Dial(ctx, *addr, tessera.WithInsecure(), tessera.WithToken(*caller))
		if err != nil {
			fmt.Fprintf(os.Stderr, "tessera-load: dial %s: %v\n", *addr, err)
			os.Exit(1)
		}
		defer c.Close()
		clients[i] = c
	}
	identifiers := make([]string, *ids)
	for i := range identifiers {
		if i%2 == 0 {
			identifiers[i] = fmt.Sprintf("deploy.job%d", i)
		} else {
			identifiers[i] = fmt.Sprintf("backup.job%d", i)
		}
	}
	// Every kind of call gets the same deadline, the baseline included: a deadline costs both ends
	// a timer and a header, which is the client's choice and not the cost of the call it bounds.
	do := func(c *tessera.Client, kind string) error {
		ctx := ctx
		if *timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		switch kind {
		case "check":
			_, err := healthpb.NewHealthClient(c.Conn()).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		case "introspect":
			_, err := c.Introspect(ctx, *target)
			return err
		case "checknamespace":
			_, err := c.CheckNamespace(ctx, tessera.NamespaceQuery{Token: *target, Identifiers: identifiers, Action: "read"})
			return err
		}
		return fmt.Errorf("unknown call %q", kind)
	}
	kinds := strings.Split(*calls, ",")
	out := json.NewEncoder(os.Stdout)
	// Warm every connection and the server's caches.
	for _, c := range clients {
		for _, kind := range kinds {
			if err := do(c, kind); err != nil {
				fmt.Fprintf(os.Stderr, "tessera-load: %s: %v\n", kind, err)
				os.Exit(1)
			}
		}
	}
	if *sequential > 0 {
		for _, kind := range kinds {
			took := make([]time.Duration, 0, *sequential)
			for range *sequential {
				start := time.Now()
				if err := do(clients[0], kind); err != nil {
					fmt.Fprintf(os.Stderr, "tessera-load: %s: %v\n", kind, err)
					os.Exit(1)
				}
				took = append(took, time.Since(start))
			}
			_ = out.Encode(summarise(kind, 0, took, int64(len(took)), 0, 0, ""))
		}
		return
	}
	for round := range *rounds {
		for _, kind := range kinds {
			_ = out.Encode(load(kind, round, clients, *concurrency, *phaseLen, do))
		}
	}
}

// load keeps concurrency calls of kind in flight over the clients for d.
func load(kind string, round int, clients []*tessera.Client, concurrency int, d time.Duration,
	do func(*tessera.Client, string) error) phase {
	var calls, errs atomic.Int64
	var firstErr atomic.Value
	samples := make([][]time.Duration, concurrency)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%len(clients)]
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := do(c, kind); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				calls.Add(1)
				// Every 16th latency is kept: enough for p99 without a large allocation.
				if calls.Load()%16 == 0 {
					samples[w] = append(samples[w], time.Since(t))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s...)
	}
	first, _ := firstErr.Load().(string)
	return summarise(kind, round, all, calls.Load(), errs.Load(), elapsed, first)
}

func summarise(kind string, round int, took []time.Duration, calls, errs int64, seconds float64, first string) phase {
	slices.Sort(took)
	q := func(f float64) float64 {
		if len(took) == 0 {
			return 0
		}
		return float64(took[int(f*float64(len(took)-1))].Nanoseconds()) / 1000
	}
	p := phase{Call: kind, Round: round, Calls: calls, Errors: errs, Seconds: seconds,
		P50Micros: q(0.5), P99Micros: q(0.99), FirstErr: first}
	if seconds > 0 {
		p.PerSecond = float64(calls) / seconds
	}
	return p
}
