package tessera

import (
	"net"
	"strconv"
	"strings"
)

// addressForms is what an address error shows: the forms every Tessera client accepts.
const addressForms = "host:port, http://host:port (plaintext) or https://host:port (TLS), e.g. http://127.0.0.1:50051"

// parseAddress reads "host:port", "http://host:port" or "https://host:port" into the dial target
// (host:port) and the scheme ("" for the bare form).
func parseAddress(addr string) (target, scheme string, err error) {
	refuse := func(why string) (string, string, error) {
		return "", "", newError(ReasonInvalidArgument, "addr",
			strconv.Quote(addr)+" is not a Tessera address ("+why+"); use "+addressForms)
	}
	rest := strings.TrimSpace(addr)
	switch {
	case strings.HasPrefix(rest, "https://"):
		scheme, rest = "https", strings.TrimPrefix(rest, "https://")
	case strings.HasPrefix(rest, "http://"):
		scheme, rest = "http", strings.TrimPrefix(rest, "http://")
	case strings.Contains(rest, "://") || strings.Contains(rest, ":///"):
		return refuse("unknown scheme")
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#@ \t") {
		return refuse("only host and port, no path, query or user")
	}
	host, port, splitErr := net.SplitHostPort(rest)
	if splitErr != nil || host == "" {
		return refuse("the host or port is missing")
	}
	if n, convErr := strconv.Atoi(port); convErr != nil || n < 1 || n > 65535 {
		return refuse("the port must be a number from 1 to 65535")
	}
	return rest, scheme, nil
}
