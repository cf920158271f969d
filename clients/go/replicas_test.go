package tessera_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// pkiFiles are PEM files: a server CA and a certificate for 127.0.0.1 it signed, and a separate CA
// for client certificates with one client certificate.
type pkiFiles struct {
	CA, ServerCert, ServerKey, ClientCA, ClientCert, ClientKey string
}

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// certify makes a P-256 key and a certificate for it, signed by parent (nil: self-signed CA), and
// writes both as PEM to dir/name.pem and dir/name.key.
func certify(t *testing.T, dir, name string, parent *issuer, template *x509.Certificate) *issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(24 * time.Hour)
	signer := &issuer{cert: template, key: key}
	if parent != nil {
		signer = parent
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signer.cert, &key.PublicKey, signer.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+".key"), "PRIVATE KEY", keyDER)
	return &issuer{cert: cert, key: key}
}

func makePKI(t *testing.T) pkiFiles {
	t.Helper()
	dir := t.TempDir()
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	serverCA := certify(t, dir, "server-ca", nil, ca("go test server ca"))
	certify(t, dir, "server", serverCA, &x509.Certificate{Subject: pkix.Name{CommonName: "tessera"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	clientCA := certify(t, dir, "client-ca", nil, ca("go test client ca"))
	certify(t, dir, "client", clientCA, &x509.Certificate{Subject: pkix.Name{CommonName: "go-sdk-test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	at := func(name string) string { return filepath.Join(dir, name) }
	return pkiFiles{CA: at("server-ca.pem"), ServerCert: at("server.pem"), ServerKey: at("server.key"),
		ClientCA: at("client-ca.pem"), ClientCert: at("client.pem"), ClientKey: at("client.key")}
}

// replica is one `tessera serve` over TLS on the shared server's database.
type replica struct {
	addr string
	cmd  *exec.Cmd
	log  string
}

func startReplica(t *testing.T, pki pkiFiles, name string, extra ...string) *replica {
	t.Helper()
	s := server(t)
	totpKey, err := os.ReadFile(filepath.Join(s.DataDir, "totp.key"))
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := append([]string{"--log-format", "json", "serve", "--listen", "127.0.0.1:0", "--skip-migrations",
		"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey}, extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = serverEnv([]string{
		"TESSERA_DATABASE_URL=" + s.Ready.DatabaseURL,
		"TESSERA_TOTP_KEY=" + strings.TrimSpace(string(totpKey)),
		"TESSERA_LOG=info",
	})
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r := &replica{cmd: cmd, log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(readyTimeout)
	for r.addr == "" {
		if f, err := os.Open(logPath); err == nil {
			scanner := bufio.NewScanner(f)
			for scanner.Scan() {
				var entry struct {
					Fields struct {
						Message string `json:"message"`
						Addr    string `json:"addr"`
					} `json:"fields"`
				}
				if json.Unmarshal(scanner.Bytes(), &entry) == nil && entry.Fields.Message == "tessera serving gRPC" {
					r.addr = entry.Fields.Addr
				}
			}
			_ = f.Close()
		}
		select {
		case <-exited:
			data, _ := os.ReadFile(logPath)
			t.Fatalf("tessera serve exited before serving:\n%s", data)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tessera serve not serving within %v", readyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

func TestMutualTLSNeedsAClientCertificate(t *testing.T) {
	pki := makePKI(t)
	mutual := startReplica(t, pki, "mutual", "--client-ca", pki.ClientCA)
	ctx := testContext(t)
	token := server(t).Ready.ServiceToken

	without, err := tessera.Dial(ctx, "https://"+mutual.addr, tessera.WithTLSFiles(pki.CA, "", ""),
		tessera.WithToken(token), tessera.WithDefaultTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer without.Close()
	_, err = without.Introspect(ctx, token, tessera.Peek())
	requireError(t, err, tessera.ErrUnavailable, "", codes.Unavailable, "")

	with, err := tessera.Dial(ctx, "https://"+mutual.addr, tessera.WithTLSFiles(pki.CA, pki.ClientCert, pki.ClientKey),
		tessera.WithToken(token), tessera.WithDefaultTimeout(callTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer with.Close()
	if info, err := with.Introspect(ctx, token, tessera.Peek()); err != nil || !info.Active {
		t.Fatalf("introspect over mutual TLS: %+v, %v", info, err)
	}

	if _, err := tessera.Dial(ctx, "https://"+mutual.addr, tessera.WithTLSFiles(pki.CA, pki.ClientCert, "")); err == nil {
		t.Fatal("a client certificate without its key was accepted")
	}
	if _, err := tessera.DialReplicas(ctx, []string{"https://" + mutual.addr, "http://" + mutual.addr}); err == nil {
		t.Fatal("mixed http:// and https:// replicas were accepted")
	}
	if _, err := tessera.DialReplicas(ctx, nil); err == nil {
		t.Fatal("no address was accepted")
	}
}

// TestFailoverWhenAReplicaDiesMidLoad issues, checks, revokes and checks again in a loop through a
// client given two replicas; the preferred one is killed midway. Calls move to the other, no
// revoked token is ever accepted, and no acknowledged revocation is lost.
func TestFailoverWhenAReplicaDiesMidLoad(t *testing.T) {
	pki := makePKI(t)
	first := startReplica(t, pki, "first")
	second := startReplica(t, pki, "second", "--client-ca", pki.ClientCA)
	ctx := testContext(t)
	s := server(t)
	admin, err := tessera.DialReplicas(ctx, []string{"https://" + first.addr, "https://" + second.addr},
		tessera.WithTLSFiles(pki.CA, pki.ClientCert, pki.ClientKey),
		tessera.WithToken(s.Ready.AdminToken), tessera.WithDefaultTimeout(callTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	service := admin.WithToken(s.Ready.ServiceToken)

	var (
		acknowledged        []string
		acceptedAfterRevoke int
		ambiguous           int
		killedAt            time.Time
		failover            time.Duration
	)
	for round := 0; round < 60; round++ {
		if round == 20 {
			_ = first.cmd.Process.Kill()
			killedAt = time.Now()
		}
		issued, err := admin.IssueToken(ctx, tessera.IssueParams{TTL: 10 * time.Minute, MaxUses: 5})
		if err != nil {
			// Sent as the replica died: maybe issued, maybe not; never re-sent.
			requireError(t, err, tessera.ErrUnavailable, "", codes.Unavailable, "")
			ambiguous++
			continue
		}
		if !killedAt.IsZero() && failover == 0 {
			failover = time.Since(killedAt)
		}
		if info, err := service.Introspect(ctx, string(issued.Token), tessera.Peek()); err != nil || !info.Active {
			t.Fatalf("round %d: a fresh token is not active: %+v, %v", round, info, err)
		}
		if _, err := admin.Revoke(ctx, tessera.ByTokenID(issued.TokenID), "failover test"); err != nil {
			t.Fatalf("round %d: revoke: %v", round, err)
		}
		acknowledged = append(acknowledged, issued.TokenID)
		info, err := service.Introspect(ctx, string(issued.Token), tessera.Peek())
		if err != nil {
			t.Fatalf("round %d: introspect after revoke: %v", round, err)
		}
		if info.Active {
			acceptedAfterRevoke++
		}
	}
	if failover == 0 {
		t.Fatal("no call succeeded after the kill")
	}
	if acceptedAfterRevoke != 0 {
		t.Fatalf("%d revoked tokens were accepted", acceptedAfterRevoke)
	}
	if ambiguous > 1 {
		t.Fatalf("%d calls failed; only one in flight at the kill may", ambiguous)
	}
	// Every acknowledged revocation is in the database, as the shared dev server sees it.
	check := adminClient(t).Admin()
	for _, id := range acknowledged {
		info, err := check.GetToken(ctx, id)
		if err != nil || info.RevokedAt.IsZero() {
			t.Fatalf("acknowledged revocation of %s lost: %+v, %v", id, info, err)
		}
	}
	if len(acknowledged) < 55 {
		t.Fatalf("only %d rounds completed", len(acknowledged))
	}
	t.Logf("go failover: %v from kill to the next successful call, %d call(s) in flight failed, %d revoked tokens accepted",
		failover, ambiguous, acceptedAfterRevoke)
}
