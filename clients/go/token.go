package tessera

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// authorizationKey is the gRPC metadata key carrying "Bearer <token>".
const authorizationKey = "authorization"

// TokenSource supplies the bearer token of an outgoing call, e.g. from a secret store that rotates it.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always returns the same token.
type StaticToken string

// Token implements TokenSource.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

type callTokenKey struct{}

// ContextWithToken makes calls made with ctx carry token instead of the client's own, for one call
// or a group of calls on behalf of someone else.
func ContextWithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, callTokenKey{}, token)
}

func tokenFromContext(ctx context.Context) (string, bool) {
	token, ok := ctx.Value(callTokenKey{}).(string)
	return token, ok
}

// UnaryClientInterceptor attaches "authorization: Bearer <token>" to every unary call: the token of
// ContextWithToken when the call's context has one, else the one src supplies (src may be nil). Use
// it with grpc.WithChainUnaryInterceptor on any connection whose server checks Tessera tokens.
func UnaryClientInterceptor(src TokenSource) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, err := withBearer(ctx, src)
		if err != nil {
			return err
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor is UnaryClientInterceptor for streaming calls.
func StreamClientInterceptor(src TokenSource) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, err := withBearer(ctx, src)
		if err != nil {
			return nil, err
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
}

// withBearer sets the authorization metadata of the outgoing context, replacing any earlier value so
// a call never carries two tokens.
func withBearer(ctx context.Context, src TokenSource) (context.Context, error) {
	token, ok := tokenFromContext(ctx)
	if !ok && src != nil {
		var err error
		if token, err = src.Token(ctx); err != nil {
			return ctx, err
		}
	}
	if token == "" {
		return ctx, nil
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(authorizationKey, "Bearer "+token)
	return metadata.NewOutgoingContext(ctx, md), nil
}

// bearerToken extracts the token of an "authorization: Bearer <token>" value the way Tessera's server
// does: the scheme case-insensitive, then one space, then a token without whitespace (surrounding
// spaces ignored). ok is false for anything else, including another scheme or "Bearer" alone.
func bearerToken(header string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(header, " ")
	token = strings.TrimSpace(rest)
	if !found || !strings.EqualFold(scheme, "bearer") || token == "" || strings.ContainsAny(token, " \t\n\r\v\f") {
		return "", false
	}
	return token, true
}
