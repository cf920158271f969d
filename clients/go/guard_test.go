package tessera_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// The guarded service of these tests: tessera.test.v1.Jobs with a unary Run(name) answering
// "<username> runs <name>" and a server stream Whoami answering the username once. Run names the
// job it touches, so the access rule checks it against the caller's namespace.
const (
	jobsRun    = "/tessera.test.v1.Jobs/Run"
	jobsWhoami = "/tessera.test.v1.Jobs/Whoami"
)

var jobsDesc = grpc.ServiceDesc{
	ServiceName: "tessera.test.v1.Jobs",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Run",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			run := func(ctx context.Context, req any) (any, error) {
				id, ok := tessera.IdentityFromContext(ctx)
				if !ok {
					return nil, status.Error(codes.Internal, "handler reached without an identity")
				}
				return wrapperspb.String(id.Username + " runs " + req.(*wrapperspb.StringValue).GetValue()), nil
			}
			if interceptor == nil {
				return run(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: jobsRun}, run)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Whoami",
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			id, ok := tessera.IdentityFromContext(stream.Context())
			if !ok {
				return status.Error(codes.Internal, "handler reached without an identity")
			}
			return stream.SendMsg(wrapperspb.String(id.Username))
		},
	}},
}

// jobAccess is the access rule: Run touches the job it names.
func jobAccess(_ context.Context, method string, req any) tessera.Access {
	if method == jobsRun {
		return tessera.Access{Identifiers: []string{req.(*wrapperspb.StringValue).GetValue()}}
	}
	return tessera.Access{}
}

// serveJobs starts the Jobs service (and an unguarded health service) guarded by guard.
func serveJobs(t *testing.T, guard *tessera.Client) string {
	t.Helper()
	opts := []tessera.GuardOption{tessera.RequireGRPCAccess(jobAccess), tessera.SkipMethods("/grpc.health.v1.Health/Check")}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(guard.UnaryServerInterceptor(opts...)),
		grpc.ChainStreamInterceptor(guard.StreamServerInterceptor(opts...)),
	)
	srv.RegisterService(&jobsDesc, struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// jobsConn is a plain gRPC connection to the Jobs service whose calls carry token through the
// package's client interceptors (ContextWithToken overrides it per call).
func jobsConn(t *testing.T, addr, token string) *grpc.ClientConn {
	t.Helper()
	var src tessera.TokenSource
	if token != "" {
		src = tessera.StaticToken(token)
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(tessera.UnaryClientInterceptor(src)),
		grpc.WithChainStreamInterceptor(tessera.StreamClientInterceptor(src)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func runJob(ctx context.Context, conn *grpc.ClientConn, job string) (string, error) {
	out := new(wrapperspb.StringValue)
	err := conn.Invoke(ctx, jobsRun, wrapperspb.String(job), out)
	return out.GetValue(), tessera.FromGRPCError(err)
}

func whoami(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	stream, err := conn.NewStream(ctx, &jobsDesc.Streams[0], jobsWhoami)
	if err != nil {
		return "", tessera.FromGRPCError(err)
	}
	if err := stream.SendMsg(&wrapperspb.StringValue{}); err != nil && !errors.Is(err, io.EOF) {
		return "", tessera.FromGRPCError(err)
	}
	if err := stream.CloseSend(); err != nil {
		return "", err
	}
	out := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(out); err != nil {
		return "", tessera.FromGRPCError(err)
	}
	return out.GetValue(), nil
}

func TestServerInterceptorProtectsAGRPCService(t *testing.T) {
	ctx := testContext(t)
	addr := serveJobs(t, serviceClient(t))
	alice := dial(t, login(t, "alice", alicePassword).Token.Expose())
	deploy := issue(t, alice, tessera.IssueParams{TTL: time.Hour, Namespace: "deploy."})
	conn := jobsConn(t, addr, deploy.Token.Expose())

	if got, err := runJob(ctx, conn, "deploy.daily"); err != nil || got != "alice runs deploy.daily" {
		t.Fatalf("Run(deploy.daily) = %q, %v; want alice runs it", got, err)
	}
	_, err := runJob(ctx, conn, "backup.nightly")
	requireError(t, err, tessera.ErrAuthDenied, tessera.ReasonAuthDenied, codes.PermissionDenied, "")
	if got, err := whoami(ctx, conn); err != nil || got != "alice" {
		t.Fatalf("Whoami = %q, %v; want alice from the stream's context", got, err)
	}

	anonymous := jobsConn(t, addr, "")
	_, err = runJob(ctx, anonymous, "deploy.daily")
	requireError(t, err, tessera.ErrAuthRequired, tessera.ReasonAuthRequired, codes.Unauthenticated, "")
	_, err = whoami(ctx, anonymous)
	requireError(t, err, tessera.ErrAuthRequired, tessera.ReasonAuthRequired, codes.Unauthenticated, "")
	_, err = runJob(tessera.ContextWithToken(ctx, "tsr_api_forged"), anonymous, "deploy.daily")
	requireError(t, err, tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated, "")

	_, err = runJob(tessera.ContextWithToken(ctx, "tsr_api_a b"), anonymous, "deploy.daily")
	requireError(t, err, tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated, "")
	// An identifier Tessera refuses is the caller's bad request, with the field named.
	_, err = runJob(ctx, conn, "has space")
	requireError(t, err, tessera.ErrInvalidArgument, tessera.ReasonInvalidArgument, codes.InvalidArgument, "identifiers")

	// Skipped methods need no token.
	if resp, err := healthpb.NewHealthClient(anonymous).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check: %v, %v", resp, err)
	}

	// A revoked token is refused at once.
	if _, err := alice.Revoke(ctx, tessera.ByTokenID(deploy.TokenID), "guard test"); err != nil {
		t.Fatal(err)
	}
	_, err = runJob(ctx, conn, "deploy.daily")
	requireError(t, err, tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated, "")

	// Each guarded call counts a use: a single-use token works once.
	once := issue(t, alice, tessera.IssueParams{TTL: time.Hour, MaxUses: 1})
	onceConn := jobsConn(t, addr, once.Token.Expose())
	if _, err := runJob(ctx, onceConn, "anything"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err = runJob(ctx, onceConn, "anything")
	requireError(t, err, tessera.ErrAuthFailed, tessera.ReasonAuthFailed, codes.Unauthenticated, "")
}

func TestServerInterceptorFailsClosed(t *testing.T) {
	ctx := testContext(t)
	token := login(t, "alice", alicePassword).Token.Expose()

	// Tessera unreachable.
	unreachable := serveJobs(t, dialAddr(t, closedAddr(t), server(t).Ready.ServiceToken))
	_, err := runJob(ctx, jobsConn(t, unreachable, token), "deploy.daily")
	requireError(t, err, tessera.ErrUnavailable, tessera.ReasonUnavailable, codes.Unavailable, "")

	// The guard's own token may not introspect: a misconfiguration, never a pass.
	weak := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, Permissions: []string{"issue"}})
	misconfigured := serveJobs(t, dial(t, weak.Token.Expose()))
	_, err = runJob(ctx, jobsConn(t, misconfigured, token), "deploy.daily")
	requireError(t, err, tessera.ErrUnavailable, tessera.ReasonUnavailable, codes.Unavailable, "")
}

// serveHTTP starts an httptest server whose /jobs/<name> handler is guarded by guard, with the job
// name as the identifier it touches.
func serveHTTP(t *testing.T, guard *tessera.Client) *httptest.Server {
	t.Helper()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := tessera.IdentityFromContext(r.Context())
		if !ok {
			http.Error(w, "no identity", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, id.Username+" runs "+strings.TrimPrefix(r.URL.Path, "/jobs/"))
	})
	rule := tessera.RequireHTTPAccess(func(r *http.Request) tessera.Access {
		if job, ok := strings.CutPrefix(r.URL.Path, "/jobs/"); ok {
			return tessera.Access{Identifiers: []string{job}}
		}
		return tessera.Access{}
	})
	srv := httptest.NewServer(guard.Middleware(rule)(handler))
	t.Cleanup(srv.Close)
	return srv
}

// httpAnswer is what a test needs of an HTTP answer: the status, the challenge, and either the
// body (served) or the JSON error fields (refused).
type httpAnswer struct {
	status     int
	challenge  string
	body       string // the handler's answer
	error      string // "error" of a JSON refusal
	reason     string // "tessera_reason"
	field      string // "field"
	retryAfter string
}

func get(t *testing.T, url, authorization string) httpAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	got := httpAnswer{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode == http.StatusOK {
		got.body = strings.TrimSpace(string(body))
		return got
	}
	// Refusals are the HTTP edge's: JSON, never cached.
	var refusal struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Reason      string `json:"tessera_reason"`
		Field       string `json:"field"`
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: %d with content type %q, want application/json: %s", url, resp.StatusCode, ct, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("GET %s: %d with Cache-Control %q, want no-store", url, resp.StatusCode, cc)
	}
	if err := json.Unmarshal(body, &refusal); err != nil || refusal.Error == "" || refusal.Description == "" {
		t.Fatalf("GET %s: %d with body %q (%v), want JSON with error and error_description", url, resp.StatusCode, body, err)
	}
	got.error, got.reason, got.field = refusal.Error, refusal.Reason, refusal.Field
	return got
}

// challenge is the HTTP edge's WWW-Authenticate value.
func challenge(code, description string) string {
	return `Bearer realm="tessera", error="` + code + `", error_description="` + description + `"`
}

func TestMiddlewareProtectsAnHTTPServer(t *testing.T) {
	srv := serveHTTP(t, serviceClient(t))
	alice := dial(t, login(t, "alice", alicePassword).Token.Expose())
	deploy := issue(t, alice, tessera.IssueParams{TTL: time.Hour, Namespace: "deploy."})
	bearer := "Bearer " + deploy.Token.Expose()
	noToken := httpAnswer{status: 401, challenge: challenge("invalid_token", "no token"), error: "invalid_token"}
	inactive := httpAnswer{status: 401, challenge: challenge("invalid_token", "the token is not active"), error: "invalid_token"}
	malformed := func(why string) httpAnswer {
		return httpAnswer{status: 400, challenge: challenge("invalid_request", "malformed authorization header: "+why), error: "invalid_request"}
	}

	for _, c := range []struct {
		name, path, authorization string
		want                      httpAnswer
	}{
		{"allowed", "/jobs/deploy.daily", bearer, httpAnswer{status: 200, body: "alice runs deploy.daily"}},
		{"scheme is case-insensitive", "/jobs/deploy.daily", "bearer " + deploy.Token.Expose(), httpAnswer{status: 200, body: "alice runs deploy.daily"}},
		{"no identifier needed", "/status", bearer, httpAnswer{status: 200, body: "alice runs /status"}},
		{"outside the namespace", "/jobs/backup.nightly", bearer,
			httpAnswer{status: 403, challenge: challenge("insufficient_scope", "insufficient namespace scope"), error: "insufficient_scope"}},
		{"an identifier Tessera refuses", "/jobs/has%20space", bearer,
			httpAnswer{status: 400, error: "invalid_request", reason: "invalid_argument", field: "identifiers"}},
		{"no token", "/jobs/deploy.daily", "", noToken},
		{"another scheme is no token", "/jobs/deploy.daily", "Basic YWxpY2U6cHc=", noToken},
		{"forged token", "/jobs/deploy.daily", "Bearer tsr_api_forged", inactive},
		{"bearer without a token", "/jobs/deploy.daily", "Bearer ", malformed("bearer without a token")},
		{"spaces in the token", "/jobs/deploy.daily", "Bearer tsr_api_a b", malformed("token contains spaces")},
		{"quotes in the token", "/jobs/deploy.daily", `Bearer tsr_api_"x"`, malformed("token contains characters no token has")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := get(t, srv.URL+c.path, c.authorization); got != c.want {
				t.Fatalf("GET %s: %+v, want %+v", c.path, got, c.want)
			}
		})
	}

	// Revocation takes effect on the next request.
	if _, err := alice.Revoke(testContext(t), tessera.ByToken(deploy.Token.Expose()), "middleware test"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, srv.URL+"/jobs/deploy.daily", bearer); got != inactive {
		t.Fatalf("revoked token: %+v, want %+v", got, inactive)
	}

	// A refused request does not burn a use; an accepted one does.
	once := issue(t, alice, tessera.IssueParams{TTL: time.Hour, MaxUses: 1, Namespace: "deploy."})
	onceBearer := "Bearer " + once.Token.Expose()
	if got := get(t, srv.URL+"/jobs/backup.x", onceBearer); got.status != 403 {
		t.Fatalf("out of scope: %+v, want 403", got)
	}
	if got := get(t, srv.URL+"/jobs/deploy.x", onceBearer); got.status != 200 {
		t.Fatalf("first use: %+v, want 200", got)
	}
	if got := get(t, srv.URL+"/jobs/deploy.x", onceBearer); got != inactive {
		t.Fatalf("second use: %+v, want %+v", got, inactive)
	}
}

func TestMiddlewareFailsClosed(t *testing.T) {
	token := login(t, "alice", alicePassword).Token.Expose()
	unavailable := httpAnswer{status: 503, error: "temporarily_unavailable", reason: "unavailable", retryAfter: "1"}

	srv := serveHTTP(t, dialAddr(t, closedAddr(t), server(t).Ready.ServiceToken))
	if got := get(t, srv.URL+"/jobs/deploy.daily", "Bearer "+token); got != unavailable {
		t.Fatalf("Tessera unreachable: %+v, want %+v", got, unavailable)
	}
	if got := get(t, srv.URL+"/status", "Bearer "+token); got != unavailable {
		t.Fatalf("Tessera unreachable, no identifiers: %+v, want %+v", got, unavailable)
	}

	// The guard's own token may not introspect: the operator's problem, never a pass nor a 401/403
	// blamed on the caller.
	weak := issue(t, adminClient(t), tessera.IssueParams{TTL: time.Hour, Permissions: []string{"issue"}})
	misconfigured := serveHTTP(t, dial(t, weak.Token.Expose()))
	want := httpAnswer{status: 503, error: "temporarily_unavailable", reason: "auth_denied", retryAfter: "1"}
	for _, path := range []string{"/jobs/deploy.daily", "/status"} {
		if got := get(t, misconfigured.URL+path, "Bearer "+token); got != want {
			t.Fatalf("guard token without introspect, %s: %+v, want %+v", path, got, want)
		}
	}
}
