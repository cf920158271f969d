package tessera_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

// TestDatabaseOutageFailsClosed stops the PostgreSQL of a server of its own (the shared one must
// keep working) and checks that Tessera answers UNAVAILABLE and that the guards refuse.
func TestDatabaseOutageFailsClosed(t *testing.T) {
	srv, err := startServer(server(t).bin, filepath.Join(scratch, "outage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	ctx := testContext(t)
	admin := dialAddr(t, srv.Ready.GRPCAddr, srv.Ready.AdminToken)
	svc := dialAddr(t, srv.Ready.GRPCAddr, srv.Ready.ServiceToken)
	// Never introspected before the outage, so no cache can answer for it.
	fresh := issue(t, admin, tessera.IssueParams{TTL: time.Hour})
	user := dialAddr(t, srv.Ready.GRPCAddr, "")

	pid, err := srv.postgresPID()
	if err != nil {
		t.Fatal(err)
	}
	// Immediate shutdown: PostgreSQL drops every connection and stops listening.
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	var loginErr error
	eventually(t, 30*time.Second, "login fails once PostgreSQL is down", func() bool {
		_, loginErr = user.Login(ctx, tessera.Credentials{Username: srv.Ready.AdminUsername, Password: srv.Ready.AdminPassword})
		return loginErr != nil
	})
	requireError(t, loginErr, tessera.ErrUnavailable, tessera.ReasonUnavailable, codes.Unavailable, "")

	_, err = svc.Introspect(ctx, fresh.Token.Expose())
	requireError(t, err, tessera.ErrUnavailable, tessera.ReasonUnavailable, codes.Unavailable, "")
	_, err = svc.CheckNamespace(ctx, tessera.NamespaceQuery{Token: fresh.Token.Expose(), Identifiers: []string{"x"}})
	requireError(t, err, tessera.ErrUnavailable, tessera.ReasonUnavailable, codes.Unavailable, "")

	if got := get(t, serveHTTP(t, svc).URL+"/jobs/deploy.daily", "Bearer "+fresh.Token.Expose()); got.status != http.StatusServiceUnavailable {
		t.Fatalf("middleware during the outage: %+v, want 503", got)
	}
	_, err = runJob(ctx, jobsConn(t, serveJobs(t, svc), fresh.Token.Expose()), "deploy.daily")
	requireError(t, err, tessera.ErrUnavailable, tessera.ReasonUnavailable, codes.Unavailable, "")
}

// The client's own view of an unreachable server: transport failures carry no Tessera reason but
// still match ErrUnavailable.
func TestUnreachableServerIsUnavailable(t *testing.T) {
	addr := closedAddr(t)
	c := dialAddr(t, addr, "tsr_svc_whatever")
	_, err := c.Introspect(testContext(t), "tsr_api_whatever")
	e := requireError(t, err, tessera.ErrUnavailable, "", codes.Unavailable, "")
	if e.Message == "" {
		t.Fatal("a transport failure should keep gRPC's message")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = tessera.Dial(ctx, addr, tessera.WithInsecure(), tessera.WithBlock())
	if !errors.Is(err, tessera.ErrUnavailable) {
		t.Fatalf("Dial with WithBlock to a closed port: %v, want ErrUnavailable", err)
	}
}

// A server that accepts connections but never answers: the default deadline ends the call.
func TestDefaultTimeoutBoundsCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			held <- conn
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for len(held) > 0 {
			_ = (<-held).Close()
		}
	})
	c := dialAddr(t, ln.Addr().String(), "tsr_svc_whatever", tessera.WithDefaultTimeout(200*time.Millisecond))
	start := time.Now()
	_, err = c.Introspect(context.Background(), "tsr_api_whatever")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("the call took %v despite a 200ms default timeout", elapsed)
	}
}
