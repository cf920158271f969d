package tessera

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func TestBearerToken(t *testing.T) {
	// The same shape rules as the server's (crates/tessera-server/src/grpc/mod.rs).
	for _, c := range []struct {
		header string
		token  string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
		{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", false},
		{"Bearerabc", "", false},
	} {
		token, ok := bearerToken(c.header)
		if token != c.token || ok != c.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", c.header, token, ok, c.token, c.ok)
		}
	}
}

func TestGRPCBearer(t *testing.T) {
	for _, c := range []struct {
		values  []string
		token   string
		verdict verdict
	}{
		{nil, "", noToken},
		{[]string{"Bearer abc"}, "abc", allowed},
		{[]string{"Bearer"}, "", malformed},
		{[]string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "", malformed},
		{[]string{"Bearer a", "Bearer b"}, "", malformed},
	} {
		md := metadata.MD{}
		for _, v := range c.values {
			md.Append("authorization", v)
		}
		ctx := metadata.NewIncomingContext(context.Background(), md)
		if token, v := grpcBearer(ctx); token != c.token || v != c.verdict {
			t.Errorf("metadata %q: %q, verdict %v; want %q, %v", c.values, token, v, c.token, c.verdict)
		}
	}
}

func TestHTTPBearer(t *testing.T) {
	// The HTTP edge's rules (crates/tessera-edge-http/src/credentials.rs): another scheme is no
	// bearer token at all; a Bearer credential that cannot be a token is malformed.
	for _, c := range []struct {
		headers []string
		token   string
		verdict verdict
		detail  string
	}{
		{nil, "", noToken, "no token"},
		{[]string{"Bearer abc"}, "abc", allowed, ""},
		{[]string{"bearer abc"}, "abc", allowed, ""},
		{[]string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "", noToken, "no token"},
		{[]string{"Bearer"}, "", malformed, "malformed authorization header: bearer without a token"},
		{[]string{"Bearer "}, "", malformed, "malformed authorization header: bearer without a token"},
		{[]string{"Bearer  abc"}, "", malformed, "malformed authorization header: token contains spaces"},
		{[]string{"Bearer a b"}, "", malformed, "malformed authorization header: token contains spaces"},
		{[]string{"Bearer\tabc"}, "", malformed, "malformed authorization header: bearer token after a tab"},
		{[]string{`Bearer a"b`}, "", malformed, "malformed authorization header: token contains characters no token has"},
		{[]string{"Bearer a;b"}, "", malformed, "malformed authorization header: token contains characters no token has"},
		{[]string{"Bearer " + strings.Repeat("a", maxTokenLen+1)}, "", malformed, "malformed authorization header: token too long"},
		{[]string{"Bearer t\u00e9"}, "", malformed, "malformed authorization header: not text"},
		{[]string{"Bearer a", "Bearer b"}, "", malformed, "malformed authorization header: more than one authorization header"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		for _, h := range c.headers {
			r.Header.Add("Authorization", h)
		}
		if token, d := httpBearer(r); token != c.token || d.verdict != c.verdict || d.detail != c.detail {
			t.Errorf("headers %q: %q, %+v; want %q, verdict %v, %q", c.headers, token, d, c.token, c.verdict, c.detail)
		}
	}
}

// sentAuthorization runs the unary interceptor with an invoker that records the outgoing metadata.
func sentAuthorization(t *testing.T, ctx context.Context, src TokenSource) ([]string, error) {
	t.Helper()
	var got []string
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		md, _ := metadata.FromOutgoingContext(ctx)
		got = md.Get("authorization")
		return nil
	}
	err := UnaryClientInterceptor(src)(ctx, "/m", nil, nil, nil, invoker)
	return got, err
}

type failingSource struct{}

var errNoSecret = errors.New("secret store down")

func (failingSource) Token(context.Context) (string, error) { return "", errNoSecret }

func TestClientInterceptorAttachesOneToken(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		ctx  context.Context
		src  TokenSource
		want []string
	}{
		{"from the source", ctx, StaticToken("svc"), []string{"Bearer svc"}},
		{"per call wins", ContextWithToken(ctx, "call"), StaticToken("svc"), []string{"Bearer call"}},
		{"replaces an earlier header", metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer old"), StaticToken("svc"), []string{"Bearer svc"}},
		{"keeps other metadata untouched", metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer old"), nil, []string{"Bearer old"}},
		{"no token at all", ctx, nil, nil},
		{"empty token sends nothing", ctx, StaticToken(""), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := sentAuthorization(t, c.ctx, c.src)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("sent %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := sentAuthorization(t, ctx, failingSource{}); !errors.Is(err, errNoSecret) {
		t.Fatalf("a failing source: %v", err)
	}
}

func TestStreamClientInterceptorAttachesTheToken(t *testing.T) {
	var got []string
	streamer := func(ctx context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
		md, _ := metadata.FromOutgoingContext(ctx)
		got = md.Get("authorization")
		return nil, nil
	}
	if _, err := StreamClientInterceptor(StaticToken("svc"))(context.Background(), &grpc.StreamDesc{}, nil, "/m", streamer); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"Bearer svc"}) {
		t.Fatalf("sent %q", got)
	}
}

func TestWithTokenCopiesShareTheConnection(t *testing.T) {
	c, err := Dial(context.Background(), "127.0.0.1:1", WithInsecure(), WithToken("base"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other := c.WithToken("other")
	if other.Conn() != c.Conn() || other.token != "other" || c.token != "" {
		t.Fatal("WithToken must copy the client around the same connection")
	}
	if tok, _ := tokenFromContext(other.withOwnToken(context.Background())); tok != "other" {
		t.Fatalf("copy calls with %q", tok)
	}
	if tok, _ := tokenFromContext(other.withOwnToken(ContextWithToken(context.Background(), "call"))); tok != "call" {
		t.Fatalf("ContextWithToken must win over the copy's token, got %q", tok)
	}
	if _, err := Dial(context.Background(), "127.0.0.1:1", WithDefaultTimeout(-1)); err == nil {
		t.Fatal("a negative default timeout must be refused")
	}
}
