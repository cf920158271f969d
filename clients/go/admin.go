package tessera

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/tessera-auth/tessera/clients/go/gen/tessera/v1"
)

// Admin wraps AdminService: accounts, TOTP enrollment, tokens and the audit trail. Every write
// needs admin rights (an admin role's session, or an elevated token from Unlock; otherwise
// ErrElevationRequired) and is audited. Get one with Client.Admin; it calls with the client's token.
type Admin struct {
	client *Client
	rpc    pb.AdminServiceClient
}

// Admin returns the AdminService wrapper sharing this client's connection and token.
func (c *Client) Admin() *Admin {
	return &Admin{client: c, rpc: pb.NewAdminServiceClient(c.conn)}
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Username    string
	DisplayName string
	Role        string // user (default), admin, owner, superuser or root
	Password    string
}

// UserSummary is an account as listed.
type UserSummary struct {
	User        User
	Disabled    bool
	LockedUntil time.Time // zero unless locked after failed logins
	CreatedAt   time.Time
}

// TOTPEnrollment is the secret to show the account's owner once, then confirm with a code.
type TOTPEnrollment struct {
	Secret     Secret // base32, as authenticator apps take it
	OtpauthURI Secret // the QR code's content; it holds the secret too
}

// TokenInfo describes a token, never its secret.
type TokenInfo struct {
	TokenID       string
	Type          TokenType
	Subject       string
	ParentID      string
	SessionID     string
	Namespace     string
	Permissions   []string
	Elevated      bool
	Description   string
	IssuedAt      time.Time
	ExpiresAt     time.Time // zero when it never expires
	UsesRemaining int64     // UnlimitedUses when unlimited
	MaxUses       uint32    // 0 when unlimited
	RevokedAt     time.Time // zero unless revoked
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID         int64
	At         time.Time
	Action     string // login, unlock, issue, revoke, lockout, user.create, …
	Outcome    string // success or failure
	Actor      string
	Username   string
	TokenID    string
	DetailJSON string
}

// AuditQuery filters ListAuditEvents; the zero value asks for the latest events.
type AuditQuery struct {
	Actor  string
	Action string
	Since  time.Time
	Until  time.Time
	Limit  uint32 // default 50, at most 500
}

func summaryFromPB(u *pb.UserSummary) UserSummary {
	return UserSummary{
		User:        userFromPB(u.GetUser()),
		Disabled:    u.GetDisabled(),
		LockedUntil: timeOf(u.GetLockedUntil()),
		CreatedAt:   timeOf(u.GetCreatedAt()),
	}
}

func tokenInfoFromPB(t *pb.TokenInfo) TokenInfo {
	uses := int64(UnlimitedUses)
	if t.UsesRemaining != nil {
		uses = int64(t.GetUsesRemaining())
	}
	return TokenInfo{
		TokenID:       t.GetTokenId(),
		Type:          TokenType(t.GetTokenType()),
		Subject:       t.GetSubject(),
		ParentID:      t.GetParentId(),
		SessionID:     t.GetSessionId(),
		Namespace:     t.GetNamespace(),
		Permissions:   t.GetPermissions(),
		Elevated:      t.GetElevated(),
		Description:   t.GetDescription(),
		IssuedAt:      timeOf(t.GetIssuedAt()),
		ExpiresAt:     timeOf(t.GetExpiresAt()),
		UsesRemaining: uses,
		MaxUses:       t.GetMaxUses(),
		RevokedAt:     timeOf(t.GetRevokedAt()),
	}
}

func timestampOf(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// CreateUser creates an account. Failures: ErrUserExists, ErrInvalidArgument (with the field).
func (a *Admin) CreateUser(ctx context.Context, user NewUser) (User, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.CreateUser(ctx, &pb.CreateUserRequest{
		Username: user.Username, DisplayName: user.DisplayName, Role: user.Role, Password: user.Password,
	})
	if err != nil {
		return User{}, fromError(err)
	}
	return userFromPB(resp.GetUser()), nil
}

// ListUsers lists every account, by username (all pages).
func (a *Admin) ListUsers(ctx context.Context) ([]UserSummary, error) {
	var users []UserSummary
	page := ""
	for {
		callCtx, cancel := a.client.callContext(ctx)
		resp, err := a.rpc.ListUsers(callCtx, &pb.ListUsersRequest{PageSize: 500, PageToken: page})
		cancel()
		if err != nil {
			return nil, fromError(err)
		}
		for _, u := range resp.GetUsers() {
			users = append(users, summaryFromPB(u))
		}
		if page = resp.GetNextPageToken(); page == "" {
			return users, nil
		}
	}
}

// SetUserDisabled disables an account (it cannot log in; its tokens are revoked at once) or
// enables it again. Failures: ErrUserNotFound.
func (a *Admin) SetUserDisabled(ctx context.Context, username string, disabled bool) (UserSummary, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.SetUserDisabled(ctx, &pb.SetUserDisabledRequest{Username: username, Disabled: disabled})
	if err != nil {
		return UserSummary{}, fromError(err)
	}
	return summaryFromPB(resp.GetUser()), nil
}

// SetRole changes an account's role; its tokens are revoked so the new role applies at once.
func (a *Admin) SetRole(ctx context.Context, username, role string) (User, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.SetRole(ctx, &pb.SetRoleRequest{Username: username, Role: role})
	if err != nil {
		return User{}, fromError(err)
	}
	return userFromPB(resp.GetUser()), nil
}

// SetPassword sets an account's password, clears a lockout and revokes its tokens.
func (a *Admin) SetPassword(ctx context.Context, username, password string) error {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	_, err := a.rpc.SetPassword(ctx, &pb.SetPasswordRequest{Username: username, Password: password})
	return fromError(err)
}

// BeginTOTPEnrollment makes a new TOTP secret for the account; nothing changes until
// ConfirmTOTPEnrollment proves the owner's authenticator holds it.
func (a *Admin) BeginTOTPEnrollment(ctx context.Context, username string) (*TOTPEnrollment, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.BeginTotpEnrollment(ctx, &pb.BeginTotpEnrollmentRequest{Username: username})
	if err != nil {
		return nil, fromError(err)
	}
	return &TOTPEnrollment{Secret: Secret(resp.GetSecret()), OtpauthURI: Secret(resp.GetOtpauthUri())}, nil
}

// ConfirmTOTPEnrollment enrolls the secret once code (from the authenticator) matches it.
func (a *Admin) ConfirmTOTPEnrollment(ctx context.Context, username string, secret Secret, code string) (User, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.ConfirmTotpEnrollment(ctx, &pb.ConfirmTotpEnrollmentRequest{
		Username: username, Secret: secret.Expose(), Code: code,
	})
	if err != nil {
		return User{}, fromError(err)
	}
	return userFromPB(resp.GetUser()), nil
}

// RemoveTOTP removes an account's TOTP second factor.
func (a *Admin) RemoveTOTP(ctx context.Context, username string) (User, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.RemoveTotp(ctx, &pb.RemoveTotpRequest{Username: username})
	if err != nil {
		return User{}, fromError(err)
	}
	return userFromPB(resp.GetUser()), nil
}

// ListTokens lists the caller's tokens, or username's (admin rights needed); includeInactive adds
// revoked, expired and used-up ones.
func (a *Admin) ListTokens(ctx context.Context, username string, includeInactive bool) ([]TokenInfo, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.ListTokens(ctx, &pb.ListTokensRequest{Username: username, IncludeInactive: includeInactive})
	if err != nil {
		return nil, fromError(err)
	}
	tokens := make([]TokenInfo, 0, len(resp.GetTokens()))
	for _, t := range resp.GetTokens() {
		tokens = append(tokens, tokenInfoFromPB(t))
	}
	return tokens, nil
}

// GetToken describes one token by id. Failures: ErrTokenNotFound.
func (a *Admin) GetToken(ctx context.Context, tokenID string) (*TokenInfo, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.GetToken(ctx, &pb.GetTokenRequest{TokenId: tokenID})
	if err != nil {
		return nil, fromError(err)
	}
	info := tokenInfoFromPB(resp.GetToken())
	return &info, nil
}

// ListAuditEvents returns the most recent audit events matching query, newest first.
func (a *Admin) ListAuditEvents(ctx context.Context, query AuditQuery) ([]AuditEvent, error) {
	ctx, cancel := a.client.callContext(ctx)
	defer cancel()
	resp, err := a.rpc.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{
		Actor: query.Actor, Action: query.Action, Since: timestampOf(query.Since),
		Until: timestampOf(query.Until), PageSize: query.Limit,
	})
	if err != nil {
		return nil, fromError(err)
	}
	events := make([]AuditEvent, 0, len(resp.GetEvents()))
	for _, e := range resp.GetEvents() {
		events = append(events, AuditEvent{
			ID: e.GetId(), At: timeOf(e.GetAt()), Action: e.GetAction(), Outcome: e.GetOutcome(),
			Actor: e.GetActor(), Username: e.GetUsername(), TokenID: e.GetTokenId(), DetailJSON: e.GetDetailJson(),
		})
	}
	return events, nil
}
