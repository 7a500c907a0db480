package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/devnet"
)

// everyLineJSON fails the test for each line of b that is not one JSON
// object, and returns the lines.
func everyLineJSON(t *testing.T, what string, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("%s: a line is not JSON: %q", what, sc.Text())
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestServeStderrIsJSON reads every byte `tsmcp serve` writes to stderr
// while it joins, serves a call and shuts down: each line is one JSON
// object. Audit lines go to the log.audit file, not to stderr.
func TestServeStderrIsJSON(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	h := startServe(ctx, t, n, "jsonlogs", "log:\n  audit: "+auditFile+"\nacl:\n  rules:\n    - src: [\"*\"]\n      tools: [\"*\"]\n")

	alice, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	client := sdk.NewClient(&sdk.Implementation{Name: "logs-test", Version: "1"}, nil)
	s, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: "http://" + h.hostIP + "/mcp", HTTPClient: alice.HTTPClient()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil || r.IsError {
		t.Fatalf("whoami: %v %+v", err, r)
	}
	s.Close()
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-h.exited; err != nil {
		t.Fatalf("tsmcp exited with %v", err)
	}

	lines := everyLineJSON(t, "stderr", []byte(h.stderr.String()))
	if len(lines) < 5 {
		t.Errorf("only %d stderr lines", len(lines))
	}
	for _, l := range lines {
		if l["log"] == "audit" {
			t.Errorf("an audit line went to stderr: %v", l)
		}
	}
	audit, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	for _, l := range everyLineJSON(t, "audit file", audit) {
		if l["log"] == "audit" && l["msg"] == "tool_call" && l["tool"] == "whoami" {
			calls++
		}
	}
	if calls != 1 {
		t.Errorf("%d whoami tool_call lines in the audit file, want 1:\n%s", calls, audit)
	}
}

// TestServeFailureIsJSON: serve that cannot start (here an invalid
// configuration) says why in one JSON line on stderr and exits 1.
func TestServeFailureIsJSON(t *testing.T) {
	f := writeFile(t, "tsmcp.yaml", "mcp:\n  keepalive: soon\n")
	cmd := exec.Command(os.Args[0], "serve", "--config", f)
	cmd.Env = append(os.Environ(), "TSMCP_TEST_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("serve with a bad config: %v, want exit status 1", err)
	}
	lines := everyLineJSON(t, "stderr", stderr.Bytes())
	if len(lines) != 1 || !strings.Contains(lines[0]["err"].(string), `mcp.keepalive: "soon" is not a duration`) {
		t.Errorf("stderr = %q, want one JSON line naming mcp.keepalive", stderr.String())
	}
}
