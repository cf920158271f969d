package tessera

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// replicasServiceConfig keeps one connection at a time (pick_first walks the addresses in order and
// moves to the next when the connected one goes away) and retries, on UNAVAILABLE, only the calls
// that are safe to repeat. Login, Unlock, IssueToken and Introspect (which may consume a use) are
// not listed: gRPC still retries them transparently when they never left the client (no
// connection, or refused by a draining server before it read them), never after.
const replicasServiceConfig = `{
  "loadBalancingConfig": [{"pick_first": {}}],
  "methodConfig": [{
    "name": [
      {"service": "tessera.v1.AuthService", "method": "Revoke"},
      {"service": "tessera.v1.AuthService", "method": "CheckNamespace"},
      {"service": "tessera.v1.AuthService", "method": "GetJwks"}
    ],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.05s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// replicaSchemes numbers the resolver scheme of each DialReplicas client, so that two clients never
// share a resolver.
var replicaSchemes atomic.Uint64

// DialReplicas creates a client for a Tessera deployment reachable at several addresses (replicas,
// in order of preference), each in the form Dial accepts; all must use the same transport
// security. Calls go to one replica at a time; when it goes away the next reachable one takes
// over. A call in flight on a replica that dies fails with ErrUnavailable; Revoke and
// CheckNamespace are then retried on the next replica, while Login, Unlock, IssueToken and
// Introspect are only re-sent when they surely never reached a server.
func DialReplicas(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	if len(addrs) == 0 {
		return nil, newError(ReasonInvalidArgument, "addr", "no address given; use "+addressForms)
	}
	var (
		resolved []resolver.Address
		schemes  = map[string]bool{}
	)
	for _, addr := range addrs {
		target, scheme, err := parseAddress(addr)
		if err != nil {
			return nil, err
		}
		schemes[scheme] = true
		host, _, _ := net.SplitHostPort(target)
		// ServerName: each replica's certificate is checked against its own host name.
		resolved = append(resolved, resolver.Address{Addr: target, ServerName: host})
	}
	// A bare host:port goes with http:// (plaintext unless WithTLS), never with https://.
	if schemes["https"] && len(schemes) > 1 {
		return nil, newError(ReasonInvalidArgument, "addr", "mixed plaintext and https:// addresses; one deployment uses one transport security")
	}
	scheme := ""
	switch {
	case schemes["https"]:
		scheme = "https"
	case schemes["http"]:
		scheme = "http"
	}
	r := manual.NewBuilderWithScheme(fmt.Sprintf("tessera-replicas-%d", replicaSchemes.Add(1)))
	r.InitialState(resolver.State{Addresses: resolved})
	opts = append(opts, WithGRPCOptions(
		grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(replicasServiceConfig),
	))
	// The first address stands for the deployment in the dial target's form checks; the resolver
	// then supplies every address.
	first := resolved[0].Addr
	if scheme != "" {
		first = scheme + "://" + first
	}
	return dial(ctx, first, r.Scheme()+":///"+resolved[0].Addr, opts...)
}

// WithTLSFiles dials with TLS trusting the PEM CA certificates in caFile (empty: the system roots)
// and, when certFile and keyFile are given, presenting that client certificate (PEM chain and key)
// to a server that requires one (mutual TLS, `tessera serve --client-ca`). Unreadable or invalid
// files fail Dial.
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return func(c *dialConfig) {
		cfg, err := tlsConfigFromFiles(caFile, certFile, keyFile)
		if err != nil {
			c.configErr = err
			return
		}
		WithTLS(cfg)(c)
	}
}

func tlsConfigFromFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tessera: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tessera: CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tessera: give the client certificate and its key together")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tessera: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
