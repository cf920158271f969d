package tessera

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// The guards (UnaryServerInterceptor, StreamServerInterceptor, Middleware) protect your own services
// with Tessera: each request's bearer token is introspected with this client, whose own token needs
// the introspect permission (a service token; see VerifyServiceToken). They fail closed: when Tessera
// cannot answer, the request is refused as unavailable, never let through.

type identityKey struct{}

// ContextWithIdentity returns ctx carrying id, as the guards do; handy in tests of handlers.
func ContextWithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFromContext returns the identity a guard stored for the request being served.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Access is what a request wants to touch: identifiers checked against the caller's namespace with
// CheckNamespace, and optionally a permission the caller must also hold. A zero Access asks only
// that the caller's token be active.
type Access struct {
	Identifiers []string
	Action      string // checked only together with Identifiers
}

// GuardOption configures a guard.
type GuardOption func(*guardConfig)

type guardConfig struct {
	grpcAccess func(ctx context.Context, fullMethod string, req any) Access
	httpAccess func(r *http.Request) Access
	skip       map[string]bool
	logger     *slog.Logger
}

// RequireGRPCAccess gives the gRPC guards a rule naming what each call touches; a call outside the
// caller's namespace is refused with PermissionDenied. For streams req is nil.
func RequireGRPCAccess(rule func(ctx context.Context, fullMethod string, req any) Access) GuardOption {
	return func(c *guardConfig) { c.grpcAccess = rule }
}

// RequireHTTPAccess gives Middleware a rule naming what each request touches (e.g. from its path); a
// request outside the caller's namespace is refused with 403 insufficient_scope.
func RequireHTTPAccess(rule func(r *http.Request) Access) GuardOption {
	return func(c *guardConfig) { c.httpAccess = rule }
}

// SkipMethods lets the named gRPC methods ("/grpc.health.v1.Health/Check") through unauthenticated.
func SkipMethods(fullMethods ...string) GuardOption {
	return func(c *guardConfig) {
		if c.skip == nil {
			c.skip = map[string]bool{}
		}
		for _, m := range fullMethods {
			c.skip[m] = true
		}
	}
}

// GuardLogger logs why Tessera could not answer (the client's view, never a token) to logger.
func GuardLogger(logger *slog.Logger) GuardOption {
	return func(c *guardConfig) { c.logger = logger }
}

func newGuardConfig(opts []GuardOption) *guardConfig {
	cfg := &guardConfig{}
	for _, opt := range opts {
		opt(cfg)
	}
	return cfg
}

// verdict is a guard's decision on one request.
type verdict int

const (
	allowed verdict = iota
	noToken
	invalidToken
	outOfScope
	unavailable
)

// authorize decides on token: CheckNamespace first when the request names identifiers (it never
// consumes a use, so a refused request does not burn one), then Introspect, which counts a use of
// a limited-use token and yields the identity.
func (c *Client) authorize(ctx context.Context, cfg *guardConfig, token string, access Access) (Identity, verdict) {
	if token == "" {
		return Identity{}, noToken
	}
	if len(access.Identifiers) > 0 {
		decision, err := c.CheckNamespace(ctx, NamespaceQuery{Token: token, Identifiers: access.Identifiers, Action: access.Action})
		switch {
		case errors.Is(err, ErrInvalidArgument):
			// A malformed identifier from the request: nothing it names can be allowed.
			return Identity{}, outOfScope
		case err != nil:
			cfg.logFailure(ctx, "check namespace", err)
			return Identity{}, unavailable
		case !decision.Active:
			return Identity{}, invalidToken
		case !decision.Allowed:
			return Identity{}, outOfScope
		}
	}
	info, err := c.Introspect(ctx, token)
	if err != nil {
		cfg.logFailure(ctx, "introspect", err)
		return Identity{}, unavailable
	}
	if !info.Active {
		return Identity{}, invalidToken
	}
	return info.Identity, allowed
}

func (cfg *guardConfig) logFailure(ctx context.Context, step string, err error) {
	if cfg.logger != nil {
		cfg.logger.WarnContext(ctx, "tessera could not decide; request refused", "step", step, "error", err)
	}
}

// UnaryServerInterceptor guards a Go gRPC server's unary methods: it reads "authorization: Bearer
// <token>", introspects the token with Tessera and stores the identity in the handler's context
// (IdentityFromContext). Refusals carry a tessera ErrorInfo reason: Unauthenticated (AUTH_REQUIRED,
// AUTH_FAILED), PermissionDenied (AUTH_DENIED) and Unavailable (UNAVAILABLE).
func (c *Client) UnaryServerInterceptor(opts ...GuardOption) grpc.UnaryServerInterceptor {
	cfg := newGuardConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if cfg.skip[info.FullMethod] {
			return handler(ctx, req)
		}
		var access Access
		if cfg.grpcAccess != nil {
			access = cfg.grpcAccess(ctx, info.FullMethod, req)
		}
		ctx, err := c.guardGRPC(ctx, cfg, access)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming methods.
func (c *Client) StreamServerInterceptor(opts ...GuardOption) grpc.StreamServerInterceptor {
	cfg := newGuardConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if cfg.skip[info.FullMethod] {
			return handler(srv, ss)
		}
		var access Access
		if cfg.grpcAccess != nil {
			access = cfg.grpcAccess(ss.Context(), info.FullMethod, nil)
		}
		ctx, err := c.guardGRPC(ss.Context(), cfg, access)
		if err != nil {
			return err
		}
		return handler(srv, &identityStream{ServerStream: ss, ctx: ctx})
	}
}

func (c *Client) guardGRPC(ctx context.Context, cfg *guardConfig, access Access) (context.Context, error) {
	token, v := grpcBearer(ctx)
	if v == allowed {
		var id Identity
		if id, v = c.authorize(ctx, cfg, token, access); v == allowed {
			return ContextWithIdentity(ctx, id), nil
		}
	}
	switch v {
	case noToken:
		return nil, statusWithReason(codes.Unauthenticated, ReasonAuthRequired, "missing bearer token").Err()
	case invalidToken:
		return nil, statusWithReason(codes.Unauthenticated, ReasonAuthFailed, "invalid bearer token").Err()
	case outOfScope:
		return nil, statusWithReason(codes.PermissionDenied, ReasonAuthDenied, "insufficient namespace scope").Err()
	default:
		return nil, statusWithReason(codes.Unavailable, ReasonUnavailable, "authentication service unavailable").Err()
	}
}

// grpcBearer reads the caller's token from incoming metadata; two authorization values are refused
// rather than guessed between.
func grpcBearer(ctx context.Context) (string, verdict) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(authorizationKey)
	switch len(values) {
	case 0:
		return "", noToken
	case 1:
		// A credential of another scheme, or none after "Bearer", is a bad credential, not a
		// missing one (as the server treats it).
		token, ok := bearerToken(values[0])
		if !ok || token == "" {
			return "", invalidToken
		}
		return token, allowed
	default:
		return "", invalidToken
	}
}

// identityStream hands the guarded context (with the identity) to a stream handler.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// Middleware guards an http.Handler: it reads "Authorization: Bearer <token>", introspects the token
// with Tessera and stores the identity in the request context (IdentityFromContext). Refusals follow
// RFC 6750 like the HTTP edge: 401 with "WWW-Authenticate: Bearer" when no Authorization header is
// sent, 401 with error="invalid_token" for a bad token or another scheme, 403 with error="insufficient_scope" outside the caller's
// namespace (see RequireHTTPAccess), and 503 when Tessera cannot answer.
func (c *Client) Middleware(opts ...GuardOption) func(http.Handler) http.Handler {
	cfg := newGuardConfig(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, v := httpBearer(r)
			if v == allowed {
				var access Access
				if cfg.httpAccess != nil {
					access = cfg.httpAccess(r)
				}
				var id Identity
				if id, v = c.authorize(r.Context(), cfg, token, access); v == allowed {
					next.ServeHTTP(w, r.WithContext(ContextWithIdentity(r.Context(), id)))
					return
				}
			}
			refuseHTTP(w, v)
		})
	}
}

func httpBearer(r *http.Request) (string, verdict) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", noToken
	case 1:
		// A credential of another scheme, or none after "Bearer", is a bad credential, not a
		// missing one (as the server treats it).
		token, ok := bearerToken(values[0])
		if !ok || token == "" {
			return "", invalidToken
		}
		return token, allowed
	default:
		return "", invalidToken
	}
}

func refuseHTTP(w http.ResponseWriter, v verdict) {
	w.Header().Set("Cache-Control", "no-store")
	switch v {
	case noToken:
		w.Header().Set("WWW-Authenticate", `Bearer`)
		http.Error(w, "missing bearer token", http.StatusUnauthorized)
	case invalidToken:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid bearer token", http.StatusUnauthorized)
	case outOfScope:
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		http.Error(w, "insufficient namespace scope", http.StatusForbidden)
	default:
		http.Error(w, "authentication service unavailable", http.StatusServiceUnavailable)
	}
}
