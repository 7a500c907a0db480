package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

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

	healthAddr := freePort(t)
	cfg := writeFile(t, "tsmcp.yaml", fmt.Sprintf(`tailnet:
  hostname: sigterm
  control_url: %s
  state: "mem:"
  ephemeral: true
  tags: [tag:mcp]
health:
  addr: %s
mcp:
  keepalive: 1s
  shutdown_grace: 10s
acl:
  rules:
    - src: ["*"]
      tools: ["*"]
`, n.ControlURL, healthAddr))

	var stderr testutil.Buffer
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "TSMCP_TEST_RUN_MAIN=1")
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("tsmcp stderr:\n%s", stderr.String())
		}
	}()

	// Wait for readiness and read the host's tailnet IP from its log.
	readyz := "http://" + healthAddr + "/readyz"
	var hostIP string
	for hostIP == "" {
		select {
		case err := <-exited:
			t.Fatalf("tsmcp exited before ready: %v", err)
		case <-ctx.Done():
			t.Fatal("tsmcp not ready in time")
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(readyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if lines := stderr.JSONLines("ready"); len(lines) > 0 {
					hostIP, _ = lines[0]["tailnet_ip"].(string)
				}
			}
		}
	}

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
