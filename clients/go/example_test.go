package tessera_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// Examples that need a Tessera server have no Output line: they compile with the tests but do not
// run. The others run against something local.

func ExampleDial() {
	ctx := context.Background()
	client, err := tessera.Dial(ctx, "tessera.internal:50051",
		tessera.WithToken(os.Getenv("TESSERA_SERVICE_TOKEN")), // holds only "introspect"
		tessera.WithDefaultTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	info, err := client.Introspect(ctx, "tsr_api_…")
	if err != nil {
		log.Fatal(err) // Tessera could not answer: refuse the request (fail closed)
	}
	if !info.Active {
		fmt.Println("token rejected")
		return
	}
	fmt.Println("token of", info.Username, "for namespace", info.Namespace)
}

func ExampleClient_Login() {
	ctx := context.Background()
	client, err := tessera.Dial(ctx, "127.0.0.1:50051", tessera.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	session, err := client.Login(ctx, tessera.Credentials{Username: "alice", Password: "correct horse"})
	switch {
	case errors.Is(err, tessera.ErrMfaRequired):
		fmt.Println("ask for the TOTP code and log in again")
		return
	case errors.Is(err, tessera.ErrInvalidCredentials), errors.Is(err, tessera.ErrAccountLocked):
		fmt.Println("login refused")
		return
	case err != nil:
		log.Fatal(err)
	}

	// Act as the session: derive a single-use token for a deploy job, valid for 15 minutes.
	alice := client.WithToken(session.Token.Expose())
	token, err := alice.IssueToken(ctx, tessera.IssueParams{
		TTL:       15 * time.Minute,
		MaxUses:   1,
		Namespace: "deploy.",
	})
	var e *tessera.Error
	if errors.As(err, &e) && errors.Is(err, tessera.ErrInvalidArgument) {
		log.Fatalf("field %s: %s", e.Field, e.Message)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("issued", token.TokenID, "until", token.ExpiresAt.Format(time.RFC3339))
}

func ExampleClient_WatchRevocations() {
	ctx := context.Background()
	client, err := tessera.Dial(ctx, "127.0.0.1:50051", tessera.WithInsecure(),
		tessera.WithToken(os.Getenv("TESSERA_SERVICE_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	evicted := map[string]bool{} // an edge cache keyed by token hash
	var lastSeen uint64
	for rev, err := range client.WatchRevocations(ctx, lastSeen,
		tessera.OnWatchRetry(func(err error) { slog.Warn("revocation watch reconnecting", "error", err) })) {
		if err != nil {
			log.Fatal(err) // permanent: bad token, missing introspect permission
		}
		evicted[rev.TokenHash] = true
		lastSeen = rev.Sequence
	}
}

func ExampleClient_UnaryServerInterceptor() {
	ctx := context.Background()
	guard, err := tessera.Dial(ctx, "tessera.internal:50051", tessera.WithToken(os.Getenv("TESSERA_SERVICE_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	if err := guard.VerifyServiceToken(ctx); err != nil {
		log.Fatalf("refusing to start: %v", err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(guard.UnaryServerInterceptor(tessera.SkipMethods("/grpc.health.v1.Health/Check"))),
		grpc.ChainStreamInterceptor(guard.StreamServerInterceptor()),
	)
	// Register services on srv; their handlers read the caller with tessera.IdentityFromContext.
	lis, err := net.Listen("tcp", ":8443")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.Serve(lis))
}

// The middleware answers a request without a token itself, so this example needs no server.
func ExampleClient_Middleware() {
	guard, err := tessera.Dial(context.Background(), "127.0.0.1:50051", tessera.WithInsecure(),
		tessera.WithToken("tsr_svc_…"))
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close()

	jobs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := tessera.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "hello %s\n", id.Username)
	})
	// Requests to /jobs/<name> may touch only names inside the caller's namespace.
	onlyOwnJobs := tessera.RequireHTTPAccess(func(r *http.Request) tessera.Access {
		job, _ := strings.CutPrefix(r.URL.Path, "/jobs/")
		return tessera.Access{Identifiers: []string{job}}
	})
	srv := httptest.NewServer(guard.Middleware(onlyOwnJobs)(jobs))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/jobs/deploy.daily")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	// Output: 401 Bearer realm="tessera", error="invalid_token", error_description="no token"
}

func ExampleFormatTTL() {
	for _, d := range []time.Duration{90*time.Minute + 15*time.Second, 8 * 24 * time.Hour, 36 * time.Hour} {
		ttl, _ := tessera.FormatTTL(d)
		fmt.Println(ttl)
	}
	// Output:
	// 1h30m15s
	// 1w1d
	// 1d12h
}

func ExampleError() {
	// Tessera's refusals carry a reason; match it with errors.Is, never on the message.
	err := tessera.FromGRPCError(simulatedRefusal())
	var e *tessera.Error
	if errors.Is(err, tessera.ErrPrivilegeExceeded) && errors.As(err, &e) {
		fmt.Println(e.Code, e.Reason)
	}
	// Output: PermissionDenied PRIVILEGE_EXCEEDED
}

// simulatedRefusal is what the server sends when a derived token would be broader than its parent.
func simulatedRefusal() error {
	st, _ := status.New(codes.PermissionDenied, "namespace: broader than the parent").
		WithDetails(&errdetails.ErrorInfo{Domain: "tessera", Reason: "PRIVILEGE_EXCEEDED"})
	return st.Err()
}
