package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestSIGTERMCutsCallsPastTheGrace runs `tsmcp serve` as a real process
// with a 1 s shutdown grace and a tool that sleeps for minutes. A call in
// flight on a legacy SSE session and one on a Streamable HTTP session
// outlive the grace: each gets an error answer (on the SSE stream before
// it closes), and the process still exits 0.
func TestSIGTERMCutsCallsPastTheGrace(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	h := startServe(ctx, t, n, "cutcalls", `mcp:
  shutdown_grace: 1s
tools:
  - name: nap
    exec:
      command: [sleep, "300"]
acl:
  rules:
    - src: ["*"]
      tools: ["*"]
`)
	alice, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	hc := alice.HTTPClient()
	base := "http://" + h.hostIP

	postRaw := func(url, body string, hdr map[string]string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return hc.Do(req)
	}
	post := func(url, body string, hdr map[string]string) *http.Response {
		t.Helper()
		resp, err := postRaw(url, body, hdr)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		return resp
	}
	const (
		initialize  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
		initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
		nap         = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nap","arguments":{}}}`
	)

	// A legacy SSE session with the call in flight.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sse", nil)
	sse, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	stream := bufio.NewReader(sse.Body)
	msgURL := ""
	for msgURL == "" {
		line, err := stream.ReadString('\n')
		if err != nil {
			t.Fatalf("SSE stream before the endpoint event: %v", err)
		}
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			msgURL = base + d
		}
	}
	for _, body := range []string{initialize, initialized, nap} {
		resp := post(msgURL, body, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST to the SSE session: %d", resp.StatusCode)
		}
	}

	// A Streamable HTTP session with the call in flight.
	init := post(base+"/mcp", initialize, nil)
	init.Body.Close()
	sid := init.Header.Get("Mcp-Session-Id")
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	post(base+"/mcp", initialized, hdr).Body.Close()
	streamableAnswer := make(chan string, 1)
	go func() {
		resp, err := postRaw(base+"/mcp", nap, hdr)
		if err != nil {
			streamableAnswer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		streamableAnswer <- string(b)
	}()

	// Both calls run (each a `sleep` child of tsmcp) before SIGTERM.
	for len(sleepChildren(t, h.cmd.Process.Pid)) < 2 {
		select {
		case <-ctx.Done():
			t.Fatal("the two calls never started")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// The SSE stream carries call 2's (error) answer, then ends.
	rest, _ := io.ReadAll(stream)
	var answer string
	for _, line := range strings.Split(string(rest), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id":2`) {
			answer = d
		}
	}
	if !isErrorAnswer(answer) {
		t.Errorf("SSE stream ended without an error answer to the cut call; stream after SIGTERM:\n%s", rest)
	}
	select {
	case got := <-streamableAnswer:
		if !strings.Contains(got, `"id":2`) || !isErrorAnswer(got) {
			t.Errorf("Streamable HTTP answer to the cut call: %q, want an error answer", got)
		}
	case <-ctx.Done():
		t.Fatal("no Streamable HTTP answer to the cut call")
	}
	select {
	case err := <-h.exited:
		if err != nil {
			t.Fatalf("tsmcp exited with %v after a drain whose grace expired, want exit status 0", err)
		}
	case <-ctx.Done():
		t.Fatal("tsmcp did not exit")
	}
	if !strings.Contains(h.stderr.String(), "shutdown grace expired") {
		t.Error("the log does not say the grace expired")
	}
}

// isErrorAnswer reports whether s holds a JSON-RPC error or a tool error.
func isErrorAnswer(s string) bool {
	return strings.Contains(s, `"error":`) || strings.Contains(s, `"isError":true`)
}

// sleepChildren lists the `sleep` processes whose parent is pid.
func sleepChildren(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if _, ppid, ok := testutil.ProcState(p); ok && ppid == pid && strings.TrimSpace(string(comm)) == "sleep" {
			out = append(out, p)
		}
	}
	return out
}
