package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestSIGTERMDrainsAndExitsZero runs `tsmcp serve` as a real process on an
// in-process tailnet, opens legacy SSE sessions to it through a tailnet
// node, sends SIGTERM, and checks that the streams are closed, readiness
// is withdrawn and the process exits 0 well within the grace period.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	h := startServe(ctx, t, n, "sigterm", `mcp:
  keepalive: 1s
  shutdown_grace: 10s
acl:
  rules:
    - src: ["*"]
      tools: ["*"]
`)
	cmd, exited, stderr, hostIP, readyz := h.cmd, h.exited, h.stderr, h.hostIP, h.readyz

	alice, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()

	// Two open SSE sessions.
	var streams []*bufio.Reader
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostIP+"/sse", nil)
		resp, err := alice.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /sse = %d", resp.StatusCode)
		}
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "event: endpoint") {
			t.Fatalf("first SSE line %q, %v", line, err)
		}
		streams = append(streams, br)
	}

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, br := range streams {
		if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Logf("stream %d ended with %v", i, err)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("tsmcp exited with %v, want exit status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tsmcp did not exit within 30s of SIGTERM")
	}
	t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	logs := stderr.String()
	for _, msg := range []string{`"msg":"shutting down"`} {
		if !strings.Contains(logs, msg) {
			t.Errorf("log lacks %s", msg)
		}
	}
	if resp, err := http.Get(readyz); err == nil {
		resp.Body.Close()
		t.Errorf("health listener still answering after exit: %d", resp.StatusCode)
	}
}

// serveProcess is a `tsmcp serve` process on a devnet.
type serveProcess struct {
	cmd      *exec.Cmd
	exited   chan error // receives Wait's result
	stderr   *testutil.Buffer
	hostIP   string // the host's tailnet IP, from its "ready" log line
	readyz   string // the readiness URL on the health listener
	cfgFile  string
	cfgStart string // the tailnet and health sections of cfgFile
}

// startServe writes a config file with the tailnet and health sections for
// n followed by rest, runs `tsmcp serve --config` on it (this test binary
// re-executed as main), and waits until it is ready. The process is killed
// when the test ends; its stderr is logged if the test failed.
func startServe(ctx context.Context, t *testing.T, n *devnet.Network, hostname, rest string) *serveProcess {
	t.Helper()
	h := &serveProcess{exited: make(chan error, 1), stderr: &testutil.Buffer{}}
	healthAddr := testutil.FreeAddr(t)
	h.cfgStart = fmt.Sprintf(`tailnet:
  hostname: %s
  control_url: %s
  state: "mem:"
  ephemeral: true
  tags: [tag:mcp]
health:
  addr: %s
`, hostname, n.ControlURL, healthAddr)
	h.cfgFile = writeFile(t, "tsmcp.yaml", h.cfgStart+rest)

	h.cmd = exec.CommandContext(ctx, os.Args[0], "serve", "--config", h.cfgFile)
	h.cmd.Env = append(os.Environ(), "TSMCP_TEST_RUN_MAIN=1")
	h.cmd.Stderr = h.stderr
	h.cmd.WaitDelay = 5 * time.Second
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.exited <- h.cmd.Wait() }()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("tsmcp stderr:\n%s", h.stderr.String())
		}
	})

	// Wait for readiness and read the host's tailnet IP from its log.
	h.readyz = "http://" + healthAddr + "/readyz"
	for h.hostIP == "" {
		select {
		case err := <-h.exited:
			t.Fatalf("tsmcp exited before ready: %v", err)
		case <-ctx.Done():
			t.Fatal("tsmcp not ready in time")
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(h.readyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if lines := h.stderr.JSONLines("ready"); len(lines) > 0 {
					h.hostIP, _ = lines[0]["tailnet_ip"].(string)
				}
			}
		}
	}
	return h
}
