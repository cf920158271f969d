package tessera_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The integration tests run against the real Tessera server: TestMain starts `tessera dev` (an
// embedded PostgreSQL, migrations, a bootstrapped admin and service token) on a free loopback port
// and stops it at the end. A missing binary fails the run; it never skips.

// readyTimeout bounds the server's start-up (initdb on a busy machine is the slow part).
const readyTimeout = 3 * time.Minute

// Passwords of the accounts the shared server bootstraps (test-only values).
const (
	rootPassword    = "break-glass-root-pw"
	alicePassword   = "alice-password-1"
	malloryPassword = "mallory-password-1"
	carolPassword   = "carol-password-1"
	tinaPassword    = "tina-password-1"
	maxFailedLogins = 3
)

// shared is the server every integration test uses; sharedErr says why it is missing. Servers keep
// their files under scratch.
var (
	shared    *tesseraServer
	sharedErr error
	scratch   string
)

// readyInfo is the JSON `tessera dev --ready-file` writes once it serves.
type readyInfo struct {
	GRPCAddr      string `json:"grpc_addr"`
	DatabaseURL   string `json:"database_url"`
	AdminUsername string `json:"admin_username"`
	AdminPassword string `json:"admin_password"`
	AdminToken    string `json:"admin_token"`
	ServiceToken  string `json:"service_token"`
	PID           int    `json:"pid"`
}

// tesseraServer is one running `tessera dev` process.
type tesseraServer struct {
	Ready   readyInfo
	DataDir string
	bin     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	var err error
	if scratch, err = os.MkdirTemp("", "tessera-go-test-"); err != nil {
		fmt.Fprintf(os.Stderr, "tessera tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(scratch)
	// When the tests run as root, PostgreSQL runs as an unprivileged account that must be able to
	// reach its data directory: MkdirTemp's 0700 would stop it.
	if err := os.Chmod(scratch, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "tessera tests: %v\n", err)
		return 1
	}
	shared, sharedErr = startSharedServer()
	if sharedErr != nil {
		fmt.Fprintf(os.Stderr, "\nFAIL: the Tessera server for the integration tests did not start:\n  %v\n\n", sharedErr)
	} else {
		defer shared.stop()
	}
	code := m.Run()
	if sharedErr != nil {
		// Even when only unit tests were selected: a run without the server proves nothing about it.
		fmt.Fprintf(os.Stderr, "\nFAIL: integration tests could not run: %v\n", sharedErr)
		return 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "\n--- last lines of the server log (%s) ---\n%s\n", shared.logPath, tail(shared.logPath, 40))
	}
	return code
}

// server returns the shared server or fails the test with the reason it is missing.
func server(t testing.TB) *tesseraServer {
	t.Helper()
	if sharedErr != nil {
		t.Fatalf("the Tessera server is not running: %v", sharedErr)
	}
	return shared
}

// serverBinary is $TESSERA_BIN, else target/debug/tessera of this repository (or $CARGO_TARGET_DIR).
func serverBinary() (string, error) {
	bin := os.Getenv("TESSERA_BIN")
	if bin == "" {
		target := os.Getenv("CARGO_TARGET_DIR")
		if target == "" {
			repo, err := filepath.Abs(filepath.Join("..", ".."))
			if err != nil {
				return "", err
			}
			target = filepath.Join(repo, "target")
		}
		bin = filepath.Join(target, "debug", "tessera")
	}
	info, err := os.Stat(bin)
	if err != nil {
		return "", fmt.Errorf("tessera binary not found at %s (build it with `cargo build -p tessera-cli`, or set TESSERA_BIN): %w", bin, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("tessera binary %s is not an executable file", bin)
	}
	return bin, nil
}

func startSharedServer() (*tesseraServer, error) {
	bin, err := serverBinary()
	if err != nil {
		return nil, err
	}
	rootHash, err := hashPassword(bin, rootPassword)
	if err != nil {
		return nil, err
	}
	accounts, err := json.Marshal([]map[string]string{
		{"username": "alice", "password": alicePassword, "role": "user", "display_name": "Alice"},
		{"username": "mallory", "password": malloryPassword, "role": "user", "display_name": "Mallory"},
		{"username": "carol", "password": carolPassword, "role": "user", "display_name": "Carol"},
	})
	if err != nil {
		return nil, err
	}
	return startServer(bin, filepath.Join(scratch, "shared"), []string{
		"TESSERA_BOOTSTRAP_ACCOUNTS_JSON=" + string(accounts),
		"TESSERA_ROOT_PASSWORD_HASH=" + rootHash,
		// Long sessions, so tokens with week and day TTLs can be derived from them.
		"TESSERA_SESSION_TTL=30d",
		fmt.Sprintf("TESSERA_MAX_FAILED_LOGINS=%d", maxFailedLogins),
		// One password check at a time and none waiting: a handful of concurrent logins is enough
		// to see RESOURCE_EXHAUSTED. The tests log in one at a time otherwise.
		"TESSERA_HASH_WORKERS=1",
		"TESSERA_HASH_QUEUE=0",
	})
}

// hashPassword runs `tessera hash-password` for TESSERA_ROOT_PASSWORD_HASH.
func hashPassword(bin, password string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "hash-password")
	cmd.Env = serverEnv(nil)
	cmd.Stdin = strings.NewReader(password + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s hash-password: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	phc := strings.TrimSpace(string(out))
	if !strings.HasPrefix(phc, "$argon2id$") {
		return "", fmt.Errorf("%s hash-password printed %q, not an argon2id hash", bin, phc)
	}
	return phc, nil
}

// serverEnv is this process's environment without TESSERA_* settings (a developer's own must not
// leak into the test server), plus extra.
func serverEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TESSERA_") && !strings.HasPrefix(kv, "TESSERA_PG_BIN=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startServer starts `tessera dev` in dir (a new directory under scratch) and waits, with a deadline, for its ready file.
func startServer(bin, dir string, extraEnv []string) (*tesseraServer, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	readyPath := filepath.Join(dir, "ready.json")
	cmd := exec.Command(bin, "dev", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--ready-file", readyPath)
	cmd.Env = serverEnv(extraEnv)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = serverProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &tesseraServer{DataDir: dataDir, bin: bin, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		if data, err := os.ReadFile(readyPath); err == nil {
			// The server writes the file atomically (temp file, then rename): no partial reads.
			if err := json.Unmarshal(data, &s.Ready); err != nil {
				s.stop()
				return nil, fmt.Errorf("ready file %s is not the expected JSON: %w", readyPath, err)
			}
			if s.Ready.GRPCAddr == "" || s.Ready.AdminToken == "" || s.Ready.ServiceToken == "" {
				s.stop()
				return nil, fmt.Errorf("ready file %s lacks grpc_addr, admin_token or service_token", readyPath)
			}
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s dev exited before it was ready (%v); its log:\n%s", bin, s.waitErr, tail(logPath, 40))
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("%s dev was not ready within %s; its log:\n%s", bin, readyTimeout, tail(logPath, 40))
		case <-poll.C:
		}
	}
}

// stop asks the server to shut down (SIGTERM stops it and its PostgreSQL), then kills its process
// group if it has not exited within the deadline.
func (s *tesseraServer) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

// postgresPID reads the embedded PostgreSQL's postmaster pid.
func (s *tesseraServer) postgresPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(s.DataDir, "pgdata", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscan(string(data), &pid); err != nil || pid <= 0 {
		return 0, errors.New("postmaster.pid has no pid on its first line")
	}
	return pid, nil
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return "  " + strings.Join(lines, "\n  ")
}
