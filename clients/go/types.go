package tessera

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/tessera-auth/tessera/clients/go/gen/tessera/v1"
)

// Secret is a token secret returned by Tessera. It prints as "[redacted]" with the fmt verbs, so
// logging a result by accident does not leak it; Expose returns the secret itself.
type Secret string

// Expose returns the secret, for sending it on (a header, WithToken) or storing it safely.
func (s Secret) Expose() string { return string(s) }

// String implements fmt.Stringer without revealing the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer (the %#v verb) without revealing the secret.
func (s Secret) GoString() string { return `tessera.Secret("` + s.String() + `")` }

// TokenType is the kind of a token, also visible in its prefix (tsr_<kind>_…).
type TokenType int

// The token kinds.
const (
	TokenTypeUnspecified TokenType = iota
	TokenTypeSession               // a login session (tsr_ses_)
	TokenTypeElevated              // an elevated child of a session, from Unlock (tsr_elv_)
	TokenTypeAPI                   // a token from IssueToken (tsr_api_)
	TokenTypeService               // a least-privileged machine token (tsr_svc_)
	TokenTypeStatic                // a token from a static tokens file (tsr_sta_)
	TokenTypeMaster                // the operator's master token (tsr_mst_)
)

var tokenTypeNames = [...]string{"unspecified", "session", "elevated", "api", "service", "static", "master"}

// String returns the lowercase kind name, such as "session".
func (t TokenType) String() string {
	if t >= 0 && int(t) < len(tokenTypeNames) {
		return tokenTypeNames[t]
	}
	return "unknown"
}

// TokenFormat is how an issued token is encoded.
type TokenFormat int

// The token formats.
const (
	FormatDefault TokenFormat = iota // the server's default: opaque
	FormatOpaque                     // an opaque tsr_… string
	FormatJWT                        // an EdDSA-signed JWT whose jti is the token id
)

// User is the public view of an account.
type User struct {
	ID          string // stable account id, the subject of its tokens
	Username    string
	DisplayName string
	Role        string // user, admin, owner, superuser or root
	TOTPEnabled bool
}

// Session is the result of Login.
type Session struct {
	Token     Secret // the session token, shown once
	TokenID   string
	SessionID string // every token derived from the session shares it
	ExpiresAt time.Time
	User      User
}

// Elevation is the result of Unlock: a short-lived elevated child of the caller's session. Revoke
// it (ByTokenID(TokenID)) to lock again.
type Elevation struct {
	Token     Secret
	TokenID   string
	ExpiresAt time.Time
}

// IssuedToken is the result of IssueToken.
type IssuedToken struct {
	Token       Secret
	TokenID     string
	ExpiresAt   time.Time // zero when the token never expires
	Namespace   string
	Permissions []string
	MaxUses     uint32 // 0 when unlimited
}

// UnlimitedUses is Identity.UsesRemaining for a token without a use limit.
const UnlimitedUses = -1

// Identity is what an active token stands for. The server interceptor and the HTTP middleware put
// one in the request context (IdentityFromContext).
type Identity struct {
	TokenID       string
	TokenType     TokenType
	Subject       string // account id; empty for tokens that belong to no account
	Username      string
	Roles         []string
	Permissions   []string // "*" means all
	Namespace     string   // namespace prefix; "*" means all
	IssuedAt      time.Time
	ExpiresAt     time.Time // zero when the token never expires
	Elevated      bool
	UsesRemaining int // after this introspection; UnlimitedUses when there is no limit
	SessionID     string
}

// Introspection is the result of Introspect. An inactive token carries only Active == false, never
// why (RFC 7662).
type Introspection struct {
	Active bool
	Identity
}

// NamespaceQuery asks whether Token may touch each of Identifiers (and holds Action, when given).
type NamespaceQuery struct {
	Token       string
	Identifiers []string
	Action      string // optional permission the token must also hold, such as "write"
}

// IdentifierDecision is the verdict on one identifier.
type IdentifierDecision struct {
	Identifier string
	Allowed    bool
}

// NamespaceDecision is the result of CheckNamespace. When Active is false nothing else is set.
type NamespaceDecision struct {
	Active    bool
	Allowed   bool // every identifier allowed and the action, if any, held
	Results   []IdentifierDecision
	Namespace string
	TokenID   string
}

// Revocation is one event of WatchRevocations.
type Revocation struct {
	Sequence  uint64 // monotonic; resume after the last one seen
	TokenID   string
	TokenHash string // lowercase hex SHA-256 of the token secret, the key edge caches hold
	RevokedAt time.Time
}

// timeOf converts an optional protobuf timestamp; absent is the zero time.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func userFromPB(u *pb.User) User {
	return User{
		ID:          u.GetUserId(),
		Username:    u.GetUsername(),
		DisplayName: u.GetDisplayName(),
		Role:        u.GetRole(),
		TOTPEnabled: u.GetTotpEnabled(),
	}
}

func introspectionFromPB(r *pb.IntrospectResponse) *Introspection {
	if !r.GetActive() {
		return &Introspection{}
	}
	uses := UnlimitedUses
	if r.UsesRemaining != nil {
		uses = int(r.GetUsesRemaining())
	}
	return &Introspection{
		Active: true,
		Identity: Identity{
			TokenID:       r.GetTokenId(),
			TokenType:     TokenType(r.GetTokenType()),
			Subject:       r.GetSubject(),
			Username:      r.GetUsername(),
			Roles:         r.GetRoles(),
			Permissions:   r.GetPermissions(),
			Namespace:     r.GetNamespace(),
			IssuedAt:      timeOf(r.GetIssuedAt()),
			ExpiresAt:     timeOf(r.GetExpiresAt()),
			Elevated:      r.GetElevated(),
			UsesRemaining: uses,
			SessionID:     r.GetSessionId(),
		},
	}
}

func namespaceDecisionFromPB(r *pb.CheckNamespaceResponse) *NamespaceDecision {
	if !r.GetActive() {
		return &NamespaceDecision{}
	}
	results := make([]IdentifierDecision, 0, len(r.GetResults()))
	for _, d := range r.GetResults() {
		results = append(results, IdentifierDecision{Identifier: d.GetIdentifier(), Allowed: d.GetAllowed()})
	}
	return &NamespaceDecision{
		Active:    true,
		Allowed:   r.GetAllowed(),
		Results:   results,
		Namespace: r.GetNamespace(),
		TokenID:   r.GetTokenId(),
	}
}

func revocationFromPB(r *pb.WatchRevocationsResponse) Revocation {
	return Revocation{
		Sequence:  r.GetSequence(),
		TokenID:   r.GetTokenId(),
		TokenHash: r.GetTokenHash(),
		RevokedAt: timeOf(r.GetRevokedAt()),
	}
}
