package tessera

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func TestBearerToken(t *testing.T) {
	for _, c := range []struct {
		header string
		token  string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer ", "", true},
		{"Bearer", "", true},
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

func TestHTTPBearer(t *testing.T) {
	for _, c := range []struct {
		headers []string
		token   string
		verdict verdict
	}{
		{nil, "", noToken},
		{[]string{"Bearer abc"}, "abc", allowed},
		{[]string{"Bearer"}, "", invalidToken},
		{[]string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "", invalidToken},
		{[]string{"Bearer a", "Bearer b"}, "", invalidToken},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		for _, h := range c.headers {
			r.Header.Add("Authorization", h)
		}
		if token, v := httpBearer(r); token != c.token || v != c.verdict {
			t.Errorf("headers %q: %q, verdict %v; want %q, %v", c.headers, token, v, c.token, c.verdict)
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
