// Package tessera is the Go client of Tessera, the central authentication and token service
// (gRPC, package tessera.v1). It wraps the generated code in gen/tessera/v1 with Go types and errors,
// and guards your own gRPC and HTTP services with Tessera tokens.
//
// # Calling Tessera
//
// Dial returns a Client; options choose TLS (the default) or plaintext, the bearer token sent with
// every call, and a default deadline:
//
//	client, err := tessera.Dial(ctx, "tessera.internal:50051",
//		tessera.WithToken(os.Getenv("TESSERA_SERVICE_TOKEN")),
//		tessera.WithDefaultTimeout(2*time.Second))
//
// Client.Login, Unlock, Revoke, IssueToken, Introspect and CheckNamespace return plain Go structs
// (times as time.Time, TTLs as time.Duration, token secrets as Secret, which never prints itself).
// Client.WithToken gives a copy acting with another token, e.g. a session returned by Login.
// Client.WatchRevocations is an iterator over every revocation that reconnects by itself and resumes
// after the last sequence it yielded.
//
// # Errors
//
// Every failure from Tessera is an *Error carrying the gRPC code, the machine-readable reason from
// google.rpc.ErrorInfo, the field at fault and the message. Branch with errors.Is on the sentinels
// (ErrAuthFailed, ErrMfaRequired, ErrPrivilegeExceeded, …), which match on the reason and never on
// the message text; transport failures without a reason match by code (ErrUnavailable).
//
// # Guarding your services
//
// Client.UnaryServerInterceptor and Client.StreamServerInterceptor protect a Go gRPC server, and
// Client.Middleware protects a net/http handler: each introspects the caller's bearer token, stores
// the Identity in the request context (IdentityFromContext) and, given an access rule, checks the
// caller's namespace with CheckNamespace. They fail closed: when Tessera cannot answer, the request
// is refused (Unavailable, 503). The guarding client's own token should be a service token holding
// only introspect; Client.VerifyServiceToken checks that at start-up.
//
// UnaryClientInterceptor and StreamClientInterceptor attach a bearer token to calls made with any
// grpc.ClientConn, for clients of services guarded this way.
package tessera
