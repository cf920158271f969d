// Command zitadel-introspect asks Tessera's RFC 7662 endpoint about tokens through zitadel/oidc's
// resource-server package (rs.Introspect), unmodified, with the service token as client secret
// (HTTP Basic). Run by tests/http/oauth_counterparts.rs.
//
// Usage: zitadel-introspect ISSUER TOKEN... (the service token in TESSERA_SERVICE_TOKEN). One line
// per token: "active <sub> <scope>", "inactive", or "error <message>" (no answer).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

func main() {
	issuer := os.Args[1]
	ctx := context.Background()
	// Tessera has no token endpoint; the static endpoints skip OpenID discovery.
	server, err := rs.NewResourceServerClientCredentials(ctx, issuer, "my-service",
		os.Getenv("TESSERA_SERVICE_TOKEN"),
		rs.WithStaticEndpoints(issuer+"/oauth2/token", issuer+"/oauth2/introspect"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "resource server:", err)
		os.Exit(2)
	}
	for _, token := range os.Args[2:] {
		answer, err := rs.Introspect[*oidc.IntrospectionResponse](ctx, server, token)
		switch {
		case err != nil:
			fmt.Println("error", strings.ReplaceAll(err.Error(), "\n", " "))
		case !answer.Active:
			fmt.Println("inactive")
		default:
			fmt.Println("active", answer.Subject, strings.Join(answer.Scope, ","))
		}
	}
}
