package tessera_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadmeQuickStartRunsAsWritten runs the README's quick start program, word for word, against
// the dev server, as a module that uses this checkout of the client.
func TestReadmeQuickStartRunsAsWritten(t *testing.T) {
	s := server(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	from := strings.Index(text, "## Quick start")
	if from < 0 {
		t.Fatal("README.md has no Quick start")
	}
	start := strings.Index(text[from:], "```go\n")
	end := strings.Index(text[from+start+6:], "\n```")
	if start < 0 || end < 0 {
		t.Fatal("no go block in the Quick start")
	}
	program := text[from+start+6 : from+start+6+end+1]

	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A new module, then the README's install recipe as written (the replace directive onto this
	// checkout), then the quick start program.
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"go.mod": "module quickstart\n\ngo 1.24\n", "go.sum": string(sum), "main.go": program} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	recipe := readmeBlock(t, text, "```sh\n")
	install := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", recipe)
	install.Dir = dir
	install.Env = append(os.Environ(), "TESSERA_CHECKOUT="+filepath.Dir(filepath.Dir(here)))
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("the README's install recipe failed: %v\n%s\n%s", err, recipe, out)
	}
	cmd := exec.CommandContext(ctx, "go", "run", "-mod=mod", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"TESSERA_ADDR=http://"+s.Ready.GRPCAddr,
		"TESSERA_ADMIN_PASSWORD="+s.Ready.AdminPassword,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s", err, out)
	}
	for _, want := range []string{"wrong password: true", "active: true namespace: deploy.", "accounts:", "unknown user: true"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// readmeBlock is the first fenced block opened by fence in text (the README's install recipe).
func readmeBlock(t *testing.T, text, fence string) string {
	t.Helper()
	start := strings.Index(text, fence)
	if start < 0 {
		t.Fatalf("README.md has no %q block", fence)
	}
	end := strings.Index(text[start+len(fence):], "\n```")
	if end < 0 {
		t.Fatal("an unclosed block")
	}
	return text[start+len(fence) : start+len(fence)+end+1]
}
