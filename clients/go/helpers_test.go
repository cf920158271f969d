package tessera_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// callTimeout bounds every call a test makes.
const callTimeout = 30 * time.Second

// testContext is a context that ends with the test (or after a generous deadline).
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dial connects to addr with token (may be empty) over plaintext loopback.
func dialAddr(t testing.TB, addr, token string, opts ...tessera.Option) *tessera.Client {
	t.Helper()
	all := []tessera.Option{tessera.WithInsecure(), tessera.WithDefaultTimeout(callTimeout)}
	if token != "" {
		all = append(all, tessera.WithToken(token))
	}
	c, err := tessera.Dial(testContext(t), addr, append(all, opts...)...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dial connects to the shared server.
func dial(t testing.TB, token string, opts ...tessera.Option) *tessera.Client {
	t.Helper()
	return dialAddr(t, server(t).Ready.GRPCAddr, token, opts...)
}

// adminClient acts as the bootstrapped admin session; serviceClient as the introspect-only token.
func adminClient(t testing.TB) *tessera.Client { return dial(t, server(t).Ready.AdminToken) }

func serviceClient(t testing.TB) *tessera.Client { return dial(t, server(t).Ready.ServiceToken) }

// login opens a session for username, failing the test on error.
func login(t testing.TB, username, password string) *tessera.Session {
	t.Helper()
	s, err := dial(t, "").Login(testContext(t), tessera.Credentials{Username: username, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return s
}

// issue derives a token from the client's, failing the test on error.
func issue(t testing.TB, c *tessera.Client, params tessera.IssueParams) *tessera.IssuedToken {
	t.Helper()
	tok, err := c.IssueToken(testContext(t), params)
	if err != nil {
		t.Fatalf("issue %+v: %v", params, err)
	}
	return tok
}

// requireError checks that err matches sentinel by errors.Is, carries reason and code, and, when
// field is not empty, names that field.
func requireError(t testing.TB, err, sentinel error, reason tessera.Reason, code codes.Code, field string) *tessera.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", err, sentinel)
	}
	var e *tessera.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *tessera.Error", err, err)
	}
	if e.Reason != reason || e.Code != code {
		t.Fatalf("error %v: reason %q code %v, want %q %v", err, e.Reason, e.Code, reason, code)
	}
	if field != "" && e.Field != field {
		t.Fatalf("error %v: field %q, want %q", err, e.Field, field)
	}
	return e
}

// requireNear checks that got is within slack of want.
func requireNear(t testing.TB, what string, got, want time.Time, slack time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -slack || d > slack {
		t.Fatalf("%s = %v, want %v ± %v (off by %v)", what, got, want, slack, d)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addTOTPUser creates an account with TOTP through `tessera user add --totp` and returns its seed.
func addTOTPUser(t testing.TB, s *tesseraServer, username, password string) totpSeed {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(s.DataDir, "totp.key"))
	if err != nil {
		t.Fatalf("reading the dev server's TOTP key: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, "user", "add", "--username", username, "--password-stdin", "--totp")
	cmd.Env = serverEnv([]string{
		"TESSERA_DATABASE_URL=" + s.Ready.DatabaseURL,
		"TESSERA_TOTP_KEY=" + strings.TrimSpace(string(key)),
	})
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tessera user add: %v\n%s", err, out)
	}
	for _, field := range strings.Fields(string(out)) {
		if strings.HasPrefix(field, "otpauth://") {
			seed, err := parseOTPAuth(field)
			if err != nil {
				t.Fatalf("parsing the otpauth URI: %v", err)
			}
			return seed
		}
	}
	t.Fatalf("tessera user add printed no otpauth:// URI:\n%s", out)
	return totpSeed{}
}

// totpSeed is an RFC 6238 generator's parameters.
type totpSeed struct {
	secret []byte
	digits int
	period int64
	hash   func() hash.Hash
}

func parseOTPAuth(uri string) (totpSeed, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return totpSeed{}, err
	}
	q := u.Query()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(q.Get("secret"), "=")))
	if err != nil || len(secret) == 0 {
		return totpSeed{}, fmt.Errorf("bad secret: %v", err)
	}
	seed := totpSeed{secret: secret, digits: 6, period: 30, hash: sha1.New}
	if d := q.Get("digits"); d != "" {
		if seed.digits, err = strconv.Atoi(d); err != nil {
			return totpSeed{}, err
		}
	}
	if p := q.Get("period"); p != "" {
		if seed.period, err = strconv.ParseInt(p, 10, 64); err != nil {
			return totpSeed{}, err
		}
	}
	switch strings.ToUpper(q.Get("algorithm")) {
	case "", "SHA1":
	case "SHA256":
		seed.hash = sha256.New
	case "SHA512":
		seed.hash = sha512.New
	default:
		return totpSeed{}, fmt.Errorf("unknown algorithm %q", q.Get("algorithm"))
	}
	return seed, nil
}

// code is the RFC 6238 code for time at.
func (s totpSeed) code(at time.Time) string {
	var counter [8]byte
	binary.BigEndian.PutUint64(counter[:], uint64(at.Unix()/s.period))
	mac := hmac.New(s.hash, s.secret)
	mac.Write(counter[:])
	sum := mac.Sum(nil)
	offset := sum[len(sum)-1] & 0x0f
	value := binary.BigEndian.Uint32(sum[offset:offset+4]) & 0x7fffffff
	mod := uint32(1)
	for range s.digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", s.digits, value%mod)
}

// wrongCode is a code valid in none of the steps around now.
func (s totpSeed) wrongCode(now time.Time) string {
	valid := map[string]bool{}
	for step := int64(-2); step <= 2; step++ {
		valid[s.code(now.Add(time.Duration(step*s.period)*time.Second))] = true
	}
	for n := 0; ; n++ {
		candidate := fmt.Sprintf("%0*d", s.digits, n)
		if !valid[candidate] {
			return candidate
		}
	}
}

// tcpProxy forwards loopback connections to a target and can cut every open one, to make a client
// lose its connection while the server keeps running.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
	})
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, upstream)
		p.mu.Unlock()
		go pipe(client, upstream)
		go pipe(upstream, client)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// cut closes every connection open through the proxy; new ones are still accepted.
func (p *tcpProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	return n
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
