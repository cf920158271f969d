package tessera

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseAddressAcceptsTheThreeForms(t *testing.T) {
	for _, tc := range []struct{ in, target, scheme string }{
		{"127.0.0.1:50051", "127.0.0.1:50051", ""},
		{"http://127.0.0.1:50051", "127.0.0.1:50051", "http"},
		{"http://localhost:50051/", "localhost:50051", "http"},
		{"https://auth.example.com:443", "auth.example.com:443", "https"},
		{"[::1]:50051", "[::1]:50051", ""},
	} {
		target, scheme, err := parseAddress(tc.in)
		if err != nil || target != tc.target || scheme != tc.scheme {
			t.Errorf("parseAddress(%q) = %q, %q, %v; want %q, %q", tc.in, target, scheme, err, tc.target, tc.scheme)
		}
	}
}

func TestDialRefusesOtherAddressesAtOnceShowingAnAcceptedForm(t *testing.T) {
	for _, addr := range []string{"", "localhost", "http://h", "ftp://h:1", "dns:///h:1", "h:0", "http://h:1/x", "::1:50051"} {
		_, err := Dial(context.Background(), addr, WithInsecure())
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "http://127.0.0.1:50051") {
			t.Errorf("Dial(%q): %v", addr, err)
		}
	}
	if _, err := Dial(context.Background(), "http://127.0.0.1:1", WithTLS(nil)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("http:// with WithTLS: %v", err)
	}
	if _, err := Dial(context.Background(), "https://127.0.0.1:1", WithInsecure()); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("https:// with WithInsecure: %v", err)
	}
}

// A bare host:port goes with http:// in a replica list, never with https://.
func TestBareAndHTTPReplicasMixButNotWithHTTPS(t *testing.T) {
	if _, err := DialReplicas(context.Background(), []string{"127.0.0.1:1", "https://127.0.0.1:2"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bare with https:// replicas: %v", err)
	}
	c, err := DialReplicas(context.Background(), []string{"127.0.0.1:1", "http://127.0.0.1:2"})
	if err != nil {
		t.Fatalf("bare with http:// replicas: %v", err)
	}
	c.Close()
}
