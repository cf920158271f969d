package tessera

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

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
	allowed      verdict = iota
	noToken              // no credential at all (HTTP: also a credential of another scheme)
	malformed            // a credential that cannot be a bearer token
	invalidToken         // Tessera says the token is not active
	outOfScope           // outside the caller's namespace (or without the action's permission)
	badRequest           // Tessera refused what the request names (INVALID_ARGUMENT, not the token)
	unavailable          // Tessera gave no decision: fail closed
)

// decision is a verdict with what the answer needs to say about it.
type decision struct {
	verdict verdict
	detail  string // human-readable, never a secret
	reason  Reason // Tessera's reason, when Tessera refused the guard's call
	field   string // the field Tessera named (badRequest)
}

// authorize decides on token: CheckNamespace first when the request names identifiers (it never
// consumes a use, so a refused request does not burn one), then Introspect, which counts a use of
// a limited-use token and yields the identity.
func (c *Client) authorize(ctx context.Context, cfg *guardConfig, token string, access Access) (Identity, decision) {
	if len(access.Identifiers) > 0 {
		ns, err := c.CheckNamespace(ctx, NamespaceQuery{Token: token, Identifiers: access.Identifiers, Action: access.Action})
		switch {
		case err != nil:
			return Identity{}, cfg.failure(ctx, "check namespace", err)
		case !ns.Active:
			return Identity{}, decision{verdict: invalidToken, detail: "the token is not active"}
		case !ns.Allowed:
			return Identity{}, decision{verdict: outOfScope, detail: "insufficient namespace scope"}
		}
	}
	info, err := c.Introspect(ctx, token)
	if err != nil {
		return Identity{}, cfg.failure(ctx, "introspect", err)
	}
	if !info.Active {
		return Identity{}, decision{verdict: invalidToken, detail: "the token is not active"}
	}
	return info.Identity, decision{verdict: allowed}
}

// failure classifies a failed call the guard made with its own token, as the HTTP edge does: bad
// input the request brought (a malformed token, a malformed identifier) is the caller's fault;
// anything else (Tessera unreachable or busy, the guard's own token refused) fails closed.
func (cfg *guardConfig) failure(ctx context.Context, step string, err error) decision {
	var e *Error
	if errors.As(err, &e) && e.kind() == ReasonInvalidArgument {
		if e.Field == "token" {
			return decision{verdict: invalidToken, detail: "the token is not active", reason: e.Reason, field: e.Field}
		}
		detail := "tessera rejected the request"
		if e.Field != "" {
			detail = "tessera rejected field " + e.Field
		}
		return decision{verdict: badRequest, detail: detail, reason: e.Reason, field: e.Field}
	}
	cfg.logFailure(ctx, step, err)
	d := decision{verdict: unavailable, detail: "the authentication service is unavailable", reason: ReasonUnavailable}
	if errors.As(err, &e) && e.kind() != "" {
		d.reason = e.kind()
	}
	switch d.reason {
	case ReasonAuthRequired, ReasonAuthFailed, ReasonAuthDenied, ReasonPrivilegeExceeded, ReasonElevationRequired, ReasonOverPrivileged:
		// Tessera refused the guard's own token: the operator's problem, not the caller's.
		d.detail = "the authentication service cannot decide right now"
	case ReasonResourceExhausted:
		d.detail = "the authentication service is busy"
	}
	return d
}

func (cfg *guardConfig) logFailure(ctx context.Context, step string, err error) {
	if cfg.logger != nil {
		cfg.logger.WarnContext(ctx, "tessera could not decide; request refused", "step", step, "error", err)
	}
}

// UnaryServerInterceptor guards a Go gRPC server's unary methods: it reads "authorization: Bearer
// <token>", introspects the token with Tessera and stores the identity in the handler's context
// (IdentityFromContext). Refusals carry a tessera ErrorInfo reason, so the service's Go clients can
// match them with FromGRPCError and errors.Is: Unauthenticated AUTH_REQUIRED (no token) or
// AUTH_FAILED (a malformed or inactive token), PermissionDenied AUTH_DENIED (outside the caller's
// namespace), InvalidArgument INVALID_ARGUMENT (an identifier Tessera refuses, with its field) and
// Unavailable UNAVAILABLE (Tessera cannot answer, or refuses the guard's own token: fail closed).
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
	d := decision{verdict: noToken}
	token, v := grpcBearer(ctx)
	if v == allowed {
		var id Identity
		if id, d = c.authorize(ctx, cfg, token, access); d.verdict == allowed {
			return ContextWithIdentity(ctx, id), nil
		}
	} else {
		d.verdict = v
	}
	switch d.verdict {
	case noToken:
		return nil, statusWithReason(codes.Unauthenticated, ReasonAuthRequired, "missing bearer token").Err()
	case malformed, invalidToken:
		return nil, statusWithReason(codes.Unauthenticated, ReasonAuthFailed, "invalid bearer token").Err()
	case outOfScope:
		return nil, statusWithReason(codes.PermissionDenied, ReasonAuthDenied, "insufficient namespace scope").Err()
	case badRequest:
		return nil, statusWithField(codes.InvalidArgument, ReasonInvalidArgument, d.field, d.detail).Err()
	default:
		return nil, statusWithReason(codes.Unavailable, ReasonUnavailable, "authentication service unavailable").Err()
	}
}

// grpcBearer reads the caller's token from incoming metadata the way Tessera's server reads its own:
// no authorization value is a missing credential; anything but one "Bearer <token>" is a bad one.
func grpcBearer(ctx context.Context) (string, verdict) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(authorizationKey)
	switch len(values) {
	case 0:
		return "", noToken
	case 1:
		if token, ok := bearerToken(values[0]); ok {
			return token, allowed
		}
		return "", malformed
	default:
		return "", malformed
	}
}

// identityStream hands the guarded context (with the identity) to a stream handler.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// Middleware guards an http.Handler: it reads "Authorization: Bearer <token>", introspects the token
// with Tessera and stores the identity in the request context (IdentityFromContext). Refusals are
// those of Tessera's HTTP edge (RFC 6750, JSON bodies {"error", "error_description"}, Cache-Control:
// no-store, WWW-Authenticate: Bearer realm="tessera", error="…"):
//
//   - 401 error="invalid_token": no bearer token (none, or another scheme), or one Tessera says is
//     not active (unknown, expired, revoked, used up);
//   - 400 error="invalid_request": a malformed Authorization header (two of them, "Bearer" without a
//     token, spaces or quotes in the token), or an identifier Tessera refuses (with "field");
//   - 403 error="insufficient_scope": outside the caller's namespace (see RequireHTTPAccess);
//   - 503 with Retry-After: Tessera cannot answer, is busy, or refuses the guard's own token.
func (c *Client) Middleware(opts ...GuardOption) func(http.Handler) http.Handler {
	cfg := newGuardConfig(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, d := httpBearer(r)
			if d.verdict == allowed {
				var access Access
				if cfg.httpAccess != nil {
					access = cfg.httpAccess(r)
				}
				var id Identity
				if id, d = c.authorize(r.Context(), cfg, token, access); d.verdict == allowed {
					next.ServeHTTP(w, r.WithContext(ContextWithIdentity(r.Context(), id)))
					return
				}
			}
			refuseHTTP(w, d)
		})
	}
}

// maxTokenLen is the longest token the middleware passes to Tessera (as the HTTP edge).
const maxTokenLen = 4096

// httpBearer reads the bearer token as the HTTP edge does: another scheme is no bearer token at all
// (it may be meant for the handler), while a Bearer credential that cannot be a token is malformed.
func httpBearer(r *http.Request) (string, decision) {
	values := r.Header.Values("Authorization")
	bad := func(why string) (string, decision) {
		return "", decision{verdict: malformed, detail: "malformed authorization header: " + why}
	}
	switch len(values) {
	case 0:
		return "", decision{verdict: noToken, detail: "no token"}
	case 1:
	default:
		return bad("more than one authorization header")
	}
	value := values[0]
	for i := 0; i < len(value); i++ {
		if b := value[i]; (b < 0x20 && b != '\t') || b > 0x7e {
			return bad("not text")
		}
	}
	scheme, separator, rest := value, "", ""
	if at := strings.IndexAny(value, " \t"); at >= 0 {
		scheme, separator, rest = value[:at], value[at:at+1], value[at+1:]
	}
	if !strings.EqualFold(scheme, "bearer") {
		return "", decision{verdict: noToken, detail: "no token"}
	}
	switch {
	case separator == "\t":
		return bad("bearer token after a tab")
	case rest == "":
		return bad("bearer without a token")
	case len(rest) > maxTokenLen:
		return bad("token too long")
	case strings.ContainsAny(rest, " \t"):
		return bad("token contains spaces")
	case strings.ContainsAny(rest, "\"\\,;"):
		return bad("token contains characters no token has")
	}
	return rest, decision{verdict: allowed}
}

// refuseHTTP writes the HTTP edge's answer for a refusal.
func refuseHTTP(w http.ResponseWriter, d decision) {
	status, code, challenge := http.StatusServiceUnavailable, "temporarily_unavailable", ""
	switch d.verdict {
	case noToken, invalidToken:
		status, code, challenge = http.StatusUnauthorized, "invalid_token", "invalid_token"
	case malformed:
		status, code, challenge = http.StatusBadRequest, "invalid_request", "invalid_request"
	case badRequest:
		status, code = http.StatusBadRequest, "invalid_request"
	case outOfScope:
		status, code, challenge = http.StatusForbidden, "insufficient_scope", "insufficient_scope"
	default:
		w.Header().Set("Retry-After", "1")
	}
	body := map[string]string{"error": code, "error_description": d.detail}
	if d.reason != "" {
		body["tessera_reason"] = strings.ToLower(string(d.reason))
	}
	if d.field != "" {
		body["field"] = d.field
	}
	h := w.Header()
	if challenge != "" {
		h.Set("WWW-Authenticate", `Bearer realm="tessera", error="`+challenge+`", error_description="`+
			strings.NewReplacer(`"`, "'", `\`, "'").Replace(d.detail)+`"`)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
