// Command envoy-go drives the HTTP edge's envoy.service.auth.v3.Authorization/Check with
// go-control-plane's generated AuthorizationClient — the client side of the type Envoy calls and
// Pomerium and OPA implement — and checks the answers Envoy acts on. It prints one line per check
// passed and exits 1 at the first mismatch, saying what it expected and what it got.
//
// Environment:
//
//	TESSERA_EDGE_ADDR      the edge's listening address, host:port (plaintext HTTP/2)
//	TESSERA_SERVICE_TOKEN  Envoy's credential: a service token holding introspect
//	TESSERA_TOKEN          a user's token limited to the namespace `deploy.`
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// namespaceRule is the per-route policy a mesh keeps beside its route (context_extensions).
const namespaceRule = "/jobs/{id}"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "envoy-go: FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("envoy-go: every check passed")
}

func run() error {
	addr, err := env("TESSERA_EDGE_ADDR")
	if err != nil {
		return err
	}
	service, err := env("TESSERA_SERVICE_TOKEN")
	if err != nil {
		return err
	}
	user, err := env("TESSERA_TOKEN")
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	// Envoy's grpc_service.initial_metadata: its own credential on every call.
	asEnvoy := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+service)
	}

	checks := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"caller without metadata: gRPC Unauthenticated", func(ctx context.Context) error {
			_, err := client.Check(ctx, request("/", "", nil))
			if status.Code(err) != codes.Unauthenticated {
				return fmt.Errorf("want gRPC Unauthenticated, got %v", err)
			}
			return nil
		}},
		{"no token: denied 401 with www-authenticate", func(ctx context.Context) error {
			denied, err := wantDenied(client.Check(asEnvoy(ctx), request("/", "", nil)))
			if err != nil {
				return err
			}
			if code := denied.GetStatus().GetCode(); code != 401 {
				return fmt.Errorf("want HTTP 401, got %d (body %s)", code, denied.GetBody())
			}
			if header(denied.GetHeaders(), "www-authenticate") == "" {
				return fmt.Errorf("the 401 has no www-authenticate header: %v", denied.GetHeaders())
			}
			return nil
		}},
		{"user token: ok with x-tessera-username, authorization removed", func(ctx context.Context) error {
			ok, err := wantOk(client.Check(asEnvoy(ctx), request("/", user, nil)))
			if err != nil {
				return err
			}
			if header(ok.GetHeaders(), "x-tessera-username") == "" {
				return fmt.Errorf("no x-tessera-username among the headers set: %v", ok.GetHeaders())
			}
			for _, name := range ok.GetHeadersToRemove() {
				if name == "authorization" {
					return nil
				}
			}
			return fmt.Errorf("authorization is not in headers_to_remove: %v", ok.GetHeadersToRemove())
		}},
		{"context_extensions " + namespaceRule + ": /jobs/backup.x denied 403", func(ctx context.Context) error {
			denied, err := wantDenied(client.Check(asEnvoy(ctx), request("/jobs/backup.x", user, routeRules)))
			if err != nil {
				return err
			}
			if code := denied.GetStatus().GetCode(); code != 403 {
				return fmt.Errorf("want HTTP 403, got %d (body %s)", code, denied.GetBody())
			}
			return nil
		}},
		{"context_extensions " + namespaceRule + ": /jobs/deploy.x ok", func(ctx context.Context) error {
			_, err := wantOk(client.Check(asEnvoy(ctx), request("/jobs/deploy.x", user, routeRules)))
			return err
		}},
	}
	for _, check := range checks {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := check.run(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", check.name, err)
		}
		fmt.Printf("envoy-go: ok: %s\n", check.name)
	}
	return nil
}

var routeRules = map[string]string{"tessera_namespace_rules": namespaceRule}

// request describes a GET as Envoy would, with a bearer token when one is given.
func request(path, token string, extensions map[string]string) *authv3.CheckRequest {
	headers := map[string]string{"user-agent": "envoy-go"}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method:   "GET",
			Scheme:   "http",
			Host:     "app.example",
			Path:     path,
			Protocol: "HTTP/1.1",
			Headers:  headers,
		}},
		ContextExtensions: extensions,
	}}
}

func wantOk(response *authv3.CheckResponse, err error) (*authv3.OkHttpResponse, error) {
	if err != nil {
		return nil, fmt.Errorf("want an OkResponse, got the gRPC error %w", err)
	}
	ok := response.GetOkResponse()
	if ok == nil || response.GetStatus().GetCode() != int32(codes.OK) {
		return nil, fmt.Errorf("want an OkResponse, got %v", response)
	}
	return ok, nil
}

func wantDenied(response *authv3.CheckResponse, err error) (*authv3.DeniedHttpResponse, error) {
	if err != nil {
		return nil, fmt.Errorf("want a DeniedResponse, got the gRPC error %w", err)
	}
	denied := response.GetDeniedResponse()
	if denied == nil {
		return nil, fmt.Errorf("want a DeniedResponse, got %v", response)
	}
	return denied, nil
}

// header is the value of a header the answer sets, or "".
func header(options []*corev3.HeaderValueOption, name string) string {
	for _, option := range options {
		if option.GetHeader().GetKey() == name {
			return option.GetHeader().GetValue()
		}
	}
	return ""
}

func env(name string) (string, error) {
	value := os.Getenv(name)
	if value == "" {
		return "", fmt.Errorf("%s is not set (see the package comment)", name)
	}
	return value, nil
}
