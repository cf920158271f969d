package tessera_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tessera "github.com/tessera-auth/tessera/clients/go"
	pb "github.com/tessera-auth/tessera/clients/go/gen/tessera/v1"
)

const tracedPassword = "planted-password-in-a-request"

// metadataRecorder answers Introspect (inactive) and refuses Login, keeping each call's metadata.
type metadataRecorder struct {
	pb.UnimplementedAuthServiceServer
	mu  sync.Mutex
	got []metadata.MD
}

func (r *metadataRecorder) keep(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, md)
}

func (r *metadataRecorder) Introspect(ctx context.Context, _ *pb.IntrospectRequest) (*pb.IntrospectResponse, error) {
	r.keep(ctx)
	return &pb.IntrospectResponse{Active: false}, nil
}

func (r *metadataRecorder) Login(ctx context.Context, _ *pb.LoginRequest) (*pb.LoginResponse, error) {
	r.keep(ctx)
	return nil, status.Error(codes.Unauthenticated, "refused")
}

// TestWithTracingRecordsClientSpansAndPropagatesThem: each call gets a client span under the
// caller's, the server receives that span as its parent in traceparent (beside the bearer token),
// and no span holds the token or the password.
func TestWithTracingRecordsClientSpansAndPropagatesThem(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	recorder := &metadataRecorder{}
	srv := grpc.NewServer()
	pb.RegisterAuthServiceServer(srv, recorder)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	spans := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tracing := tessera.WithTracing(otelgrpc.WithTracerProvider(provider),
		otelgrpc.WithPropagators(propagation.TraceContext{}))
	client := dialAddr(t, "http://"+lis.Addr().String(), "planted-service-token", tracing)

	ctx, app := provider.Tracer("test").Start(testContext(t), "app")
	info, err := client.Introspect(ctx, "some-token")
	if err != nil || info.Active {
		t.Fatalf("introspect: %+v, %v", info, err)
	}
	_, err = client.Login(ctx, tessera.Credentials{Username: "alice", Password: tracedPassword})
	if err == nil {
		t.Fatal("login: want a refusal")
	}
	app.End()

	ended := spans.Ended()
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range ended {
		byName[s.Name()] = s
		for _, kv := range s.Attributes() {
			value := kv.Value.Emit()
			if strings.Contains(value, "planted") {
				t.Errorf("span %s holds a secret in %s", s.Name(), kv.Key)
			}
		}
	}
	for i, name := range []string{"tessera.v1.AuthService/Introspect", "tessera.v1.AuthService/Login"} {
		span, ok := byName[name]
		if !ok {
			t.Fatalf("no span %s among %d", name, len(ended))
		}
		if span.SpanKind() != trace.SpanKindClient || span.Parent().SpanID() != app.SpanContext().SpanID() {
			t.Errorf("%s: kind %v parent %v, want a client span under the caller's", name, span.SpanKind(), span.Parent().SpanID())
		}
		md := recorder.got[i]
		want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
		if got := md.Get("traceparent"); len(got) != 1 || got[0] != want {
			t.Errorf("%s: the server got traceparent %v, want %s", name, got, want)
		}
	}
	if login := byName["tessera.v1.AuthService/Login"]; login.Status().Code != otelcodes.Error {
		t.Errorf("a refused call's span has status %v, want Error", login.Status())
	}
	if got := recorder.got[0].Get("authorization"); len(got) != 1 || got[0] != "Bearer planted-service-token" {
		t.Errorf("the bearer token did not arrive beside the trace context: %v", got)
	}
}
