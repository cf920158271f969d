package tessera

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/tessera-auth/tessera/clients/go/gen/tessera/v1"
)

// Client talks to Tessera's AuthService over one gRPC connection. It is safe for concurrent use;
// copies made with WithToken share the connection.
type Client struct {
	conn    *grpc.ClientConn
	rpc     pb.AuthServiceClient
	src     TokenSource
	token   string // set on copies made with WithToken; overrides src
	timeout time.Duration
}

// Option configures Dial.
type Option func(*dialConfig)

type dialConfig struct {
	creds     credentials.TransportCredentials
	security  string // "tls" or "insecure" once WithTLS or WithInsecure chose
	src       TokenSource
	timeout   time.Duration
	block     bool
	grpcOpts  []grpc.DialOption
	configErr error
}

// WithTLS dials with TLS using cfg (nil: system roots, TLS 1.2 or later). TLS is the default.
func WithTLS(cfg *tls.Config) Option {
	return func(c *dialConfig) {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.creds = credentials.NewTLS(cfg)
		c.security = "tls"
	}
}

// WithInsecure dials without transport security, for a server on loopback such as `tessera dev`.
// Bearer tokens then cross the wire in the clear.
func WithInsecure() Option {
	return func(c *dialConfig) {
		c.creds = insecure.NewCredentials()
		c.security = "insecure"
	}
}

// WithToken sends token as the bearer token of every call.
func WithToken(token string) Option {
	return func(c *dialConfig) { c.src = StaticToken(token) }
}

// WithTokenSource asks src for the bearer token of every call.
func WithTokenSource(src TokenSource) Option {
	return func(c *dialConfig) { c.src = src }
}

// WithDefaultTimeout bounds every unary call whose context has no deadline of its own. It does not
// apply to WatchRevocations, which runs until its context ends.
func WithDefaultTimeout(d time.Duration) Option {
	return func(c *dialConfig) {
		if d < 0 {
			c.configErr = errors.New("tessera: WithDefaultTimeout needs a positive duration")
		}
		c.timeout = d
	}
}

// WithBlock makes Dial wait until the connection is ready, or fail with ErrUnavailable when ctx ends
// first. Without it Dial returns at once and the first call waits for the connection.
func WithBlock() Option {
	return func(c *dialConfig) { c.block = true }
}

// WithGRPCOptions passes extra options to grpc.NewClient (interceptors, keepalive, a dialer).
func WithGRPCOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.grpcOpts = append(c.grpcOpts, opts...) }
}

// Dial creates a client for the Tessera server at addr, in the address form every Tessera client
// shares: "host:port" (plaintext unless WithTLS or WithTLSFiles), "http://host:port" (plaintext)
// or "https://host:port" (TLS). Anything else fails here, with ErrInvalidArgument, not at the first
// call. Close the client when done.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	return dial(ctx, addr, "", opts...)
}

// dial checks addr and the options like Dial, then connects to grpcTarget (empty: addr's host:port).
func dial(ctx context.Context, addr, grpcTarget string, opts ...Option) (*Client, error) {
	cfg := dialConfig{}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.configErr != nil {
		return nil, cfg.configErr
	}
	target, scheme, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	switch {
	case scheme == "http" && cfg.security == "tls":
		return nil, newError(ReasonInvalidArgument, "addr", "http:// means plaintext but WithTLS was given; use https://"+target)
	case scheme == "https" && cfg.security == "insecure":
		return nil, newError(ReasonInvalidArgument, "addr", "https:// means TLS but WithInsecure was given; use http://"+target)
	case scheme == "http", scheme == "" && cfg.creds == nil:
		// A bare host:port is plaintext, as in every Tessera client (the CLI, the edges, Python):
		// the dev server's own ready file gives one. TLS is https:// or WithTLS.
		WithInsecure()(&cfg)
	case cfg.creds == nil:
		WithTLS(nil)(&cfg)
	}
	addr = target
	if grpcTarget != "" {
		addr = grpcTarget
	}
	grpcOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(cfg.creds),
		grpc.WithChainUnaryInterceptor(UnaryClientInterceptor(cfg.src)),
		grpc.WithChainStreamInterceptor(StreamClientInterceptor(cfg.src)),
	}, cfg.grpcOpts...)
	conn, err := grpc.NewClient(addr, grpcOpts...)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, rpc: pb.NewAuthServiceClient(conn), src: cfg.src, timeout: cfg.timeout}
	if cfg.block {
		if err := waitReady(ctx, conn); err != nil {
			_ = conn.Close()
			return nil, err
		}
	} else {
		conn.Connect()
	}
	return c, nil
}

func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		state := conn.GetState()
		if state == connectivity.Ready {
			return nil
		}
		if !conn.WaitForStateChange(ctx, state) {
			return &Error{Code: codes.Unavailable, Reason: ReasonUnavailable,
				Message: "no connection to " + conn.Target() + " before the context ended: " + ctx.Err().Error()}
		}
	}
}

// Close closes the connection, for this client and every copy made with WithToken.
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the underlying connection, e.g. to call the generated client directly.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// WithToken returns a copy of the client that calls with token as its bearer token; it shares the
// connection (closing either closes both). Typical use: act as a session returned by Login.
func (c *Client) WithToken(token string) *Client {
	copied := *c
	copied.token = token
	return &copied
}

// withOwnToken adds the copy's token, unless the caller chose one with ContextWithToken.
func (c *Client) withOwnToken(ctx context.Context) context.Context {
	if c.token != "" {
		if _, chosen := tokenFromContext(ctx); !chosen {
			return ContextWithToken(ctx, c.token)
		}
	}
	return ctx
}

// callContext prepares a unary call: the copy's token and the default deadline.
func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = c.withOwnToken(ctx)
	if c.timeout > 0 {
		if _, has := ctx.Deadline(); !has {
			return context.WithTimeout(ctx, c.timeout)
		}
	}
	return ctx, func() {}
}

// Credentials are what Login checks.
type Credentials struct {
	Username string
	Password string
	TOTPCode string // required when the account has TOTP enrolled
}

// Login verifies the credentials and opens a session. Failures: ErrInvalidCredentials (unknown user,
// wrong password or code, deliberately alike), ErrMfaRequired, ErrAccountLocked,
// ErrResourceExhausted (too many logins at once).
func (c *Client) Login(ctx context.Context, creds Credentials) (*Session, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Login(ctx, &pb.LoginRequest{
		Username: creds.Username,
		Password: creds.Password,
		TotpCode: creds.TOTPCode,
	})
	if err != nil {
		return nil, fromError(err)
	}
	return &Session{
		Token:     Secret(resp.GetToken()),
		TokenID:   resp.GetTokenId(),
		SessionID: resp.GetSessionId(),
		ExpiresAt: timeOf(resp.GetExpiresAt()),
		User:      userFromPB(resp.GetUser()),
	}, nil
}

// UnlockParams are the inputs of Unlock.
type UnlockParams struct {
	// Password is the break-glass root password, or the caller's own where the role allows elevation.
	Password string
	// TOTPCode is needed with the caller's own password when the account has TOTP enrolled.
	TOTPCode string
	// TTL is how long the elevation lasts; zero means the server's cap (15 minutes by default).
	TTL time.Duration
}

// Unlock mints a short-lived elevated child of the caller's session ("sudo mode"). The client's
// token must be a session token.
func (c *Client) Unlock(ctx context.Context, params UnlockParams) (*Elevation, error) {
	ttl, err := FormatTTL(params.TTL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Unlock(ctx, &pb.UnlockRequest{Password: params.Password, TotpCode: params.TOTPCode, Ttl: ttl})
	if err != nil {
		return nil, fromError(err)
	}
	return &Elevation{Token: Secret(resp.GetToken()), TokenID: resp.GetTokenId(), ExpiresAt: timeOf(resp.GetExpiresAt())}, nil
}

// RevokeTarget names what Revoke revokes; make one with ByToken, ByTokenID, BySession or BySubject.
type RevokeTarget struct {
	target func(*pb.RevokeRequest)
}

// ByToken targets a token by its secret. Holding the secret is authority enough to revoke it.
func ByToken(secret string) RevokeTarget {
	return RevokeTarget{func(r *pb.RevokeRequest) { r.Target = &pb.RevokeRequest_Token{Token: secret} }}
}

// ByTokenID targets a token by its public id.
func ByTokenID(id string) RevokeTarget {
	return RevokeTarget{func(r *pb.RevokeRequest) { r.Target = &pb.RevokeRequest_TokenId{TokenId: id} }}
}

// BySession targets a session and everything derived from it.
func BySession(id string) RevokeTarget {
	return RevokeTarget{func(r *pb.RevokeRequest) { r.Target = &pb.RevokeRequest_SessionId{SessionId: id} }}
}

// BySubject targets every token of an account (its user id).
func BySubject(userID string) RevokeTarget {
	return RevokeTarget{func(r *pb.RevokeRequest) { r.Target = &pb.RevokeRequest_Subject{Subject: userID} }}
}

// Revoke revokes the target and every token derived from it, and returns how many tokens were newly
// revoked. Your own tokens need no privilege; anyone else's need an admin role or an elevated token
// (else ErrElevationRequired). reason is recorded in the audit trail.
func (c *Client) Revoke(ctx context.Context, target RevokeTarget, reason string) (uint64, error) {
	req := &pb.RevokeRequest{Reason: reason}
	if target.target == nil {
		return 0, newError(ReasonInvalidArgument, "target", "target: name one of ByToken, ByTokenID, BySession or BySubject")
	}
	target.target(req)
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Revoke(ctx, req)
	if err != nil {
		return 0, fromError(err)
	}
	return resp.GetRevokedCount(), nil
}

// IssueParams are the inputs of IssueToken. Every bound defaults to the caller's own and can never
// exceed it (else ErrPrivilegeExceeded).
type IssueParams struct {
	TTL         time.Duration // zero: the server's default (one hour), capped by the caller's life
	MaxUses     uint32        // 0: no limit of its own; 1: single-use
	Namespace   string        // such as "deploy." or "*"; empty: the caller's
	Permissions []string      // such as "introspect"; empty: the caller's
	Description string
	Format      TokenFormat
	// Service asks for a service token (tsr_svc_) instead of an API token; it must not hold admin
	// rights (else ErrOverPrivileged).
	Service bool
}

// IssueToken derives a token from the caller's.
func (c *Client) IssueToken(ctx context.Context, params IssueParams) (*IssuedToken, error) {
	ttl, err := FormatTTL(params.TTL)
	if err != nil {
		return nil, err
	}
	tokenType := pb.TokenType_TOKEN_TYPE_API
	if params.Service {
		tokenType = pb.TokenType_TOKEN_TYPE_SERVICE
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.IssueToken(ctx, &pb.IssueTokenRequest{
		Ttl:         ttl,
		MaxUses:     params.MaxUses,
		Namespace:   params.Namespace,
		Permissions: params.Permissions,
		Description: params.Description,
		Format:      pb.TokenFormat(params.Format),
		TokenType:   tokenType,
	})
	if err != nil {
		return nil, fromError(err)
	}
	return &IssuedToken{
		Token:       Secret(resp.GetToken()),
		TokenID:     resp.GetTokenId(),
		ExpiresAt:   timeOf(resp.GetExpiresAt()),
		Namespace:   resp.GetNamespace(),
		Permissions: resp.GetPermissions(),
		MaxUses:     resp.GetMaxUses(),
	}, nil
}

// IntrospectOption modifies Introspect.
type IntrospectOption func(*introspectConfig)

type introspectConfig struct{ peek bool }

// Peek introspects without counting a use of a limited-use token.
func Peek() IntrospectOption {
	return func(c *introspectConfig) { c.peek = true }
}

// Introspect says whether token is active and what it holds. It counts one use of a limited-use
// token unless Peek is given. The client's token needs the introspect permission.
func (c *Client) Introspect(ctx context.Context, token string, opts ...IntrospectOption) (*Introspection, error) {
	var cfg introspectConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	req := &pb.IntrospectRequest{Token: token, Peek: cfg.peek}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Introspect(ctx, req)
	if err != nil {
		return nil, fromError(err)
	}
	return introspectionFromPB(resp), nil
}

// CheckNamespace decides whether a token may touch each identifier: "*" allows everything, else an
// identifier is allowed when it starts with the token's namespace prefix. It never consumes a use.
// The client's token needs the introspect permission.
func (c *Client) CheckNamespace(ctx context.Context, query NamespaceQuery) (*NamespaceDecision, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.CheckNamespace(ctx, &pb.CheckNamespaceRequest{
		Token:       query.Token,
		Identifiers: query.Identifiers,
		Action:      query.Action,
	})
	if err != nil {
		return nil, fromError(err)
	}
	return namespaceDecisionFromPB(resp), nil
}

// VerifyServiceToken checks the client's own token the way an edge must before it serves: active,
// holding introspect, and without admin rights (an admin permission on an admin-role or elevated
// token). It answers ErrAuthFailed, ErrAuthDenied or ErrOverPrivileged when the token is unfit.
func (c *Client) VerifyServiceToken(ctx context.Context) error {
	own := c.token
	if own == "" && c.src != nil {
		var err error
		if own, err = c.src.Token(ctx); err != nil {
			return err
		}
	}
	if own == "" {
		return newError(ReasonAuthRequired, "", "the client has no token of its own to verify")
	}
	info, err := c.Introspect(ctx, own, Peek())
	if err != nil {
		return err
	}
	if !info.Active {
		return newError(ReasonAuthFailed, "", "the client's own token is not active")
	}
	if !permits(info.Permissions, "introspect") {
		return newError(ReasonAuthDenied, "", "the client's own token lacks the introspect permission")
	}
	if permits(info.Permissions, "admin") && (info.Elevated || hasAdminRole(info.Roles)) {
		return newError(ReasonOverPrivileged, "", "the client's own token holds admin rights; use a service token with only introspect")
	}
	return nil
}

func permits(permissions []string, permission string) bool {
	for _, p := range permissions {
		if p == "*" || p == permission {
			return true
		}
	}
	return false
}

// hasAdminRole reports a session-root role (DESIGN.md §4: every role but user).
func hasAdminRole(roles []string) bool {
	for _, role := range roles {
		switch strings.ToLower(role) {
		case "admin", "owner", "superuser", "root":
			return true
		}
	}
	return false
}
