package tessera_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// startTLSProxy terminates TLS (ALPN h2, a fresh self-signed certificate for 127.0.0.1) in front of
// target, the way a load balancer fronts Tessera, and returns its address and a pool trusting it.
func startTLSProxy(t *testing.T, target string) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tessera test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			upstream, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			go pipe(client, upstream)
			go pipe(upstream, client)
		}
	}()
	return ln.Addr().String(), pool
}

func TestDialWithTLS(t *testing.T) {
	s := server(t)
	addr, pool := startTLSProxy(t, s.Ready.GRPCAddr)
	ctx := testContext(t)

	c, err := tessera.Dial(ctx, addr, tessera.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		tessera.WithToken(s.Ready.ServiceToken), tessera.WithDefaultTimeout(callTimeout), tessera.WithBlock())
	if err != nil {
		t.Fatalf("dial over TLS: %v", err)
	}
	defer c.Close()
	if info, err := c.Introspect(ctx, s.Ready.AdminToken, tessera.Peek()); err != nil || !info.Active || info.Username != "admin" {
		t.Fatalf("introspect over TLS: %+v, %v", info, err)
	}

	// TLS is the default, verified against the system roots, which do not trust this certificate.
	untrusted, err := tessera.Dial(ctx, addr, tessera.WithToken(s.Ready.ServiceToken), tessera.WithDefaultTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	_, err = untrusted.Introspect(ctx, s.Ready.AdminToken, tessera.Peek())
	requireError(t, err, tessera.ErrUnavailable, "", codes.Unavailable, "")
}
