package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// slowProvider has one tool, "slow", that blocks until release is closed.
type slowProvider struct {
	started chan struct{} // receives when a call begins
	release chan struct{}
	closed  chan struct{} // closed by Close
}

func (p *slowProvider) Name() string { return "slow" }
func (p *slowProvider) Close() error { close(p.closed); return nil }
func (p *slowProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{{
		Tool: mcpgo.NewTool("slow", mcpgo.WithDescription("blocks until released")),
		Handler: func(ctx context.Context, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			p.started <- struct{}{}
			<-p.release
			return mcpgo.NewToolResultText("done"), nil
		},
	}}, nil
}

// ourGoroutines counts goroutines running tsmcp's or mcp-go's code.
func ourGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var ours []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "tsmcp/internal/server.") || strings.Contains(g, "mark3labs/mcp-go/server.") {
			n++
			ours = append(ours, g)
		}
	}
	return n, strings.Join(ours, "\n\n")
}

// TestShutdownDrains stops a host while a tool call is in flight and an SSE
// session and a Streamable HTTP session are open: readiness turns 503 at
// once, the call completes, the streams are closed, Run returns nil, and no
// goroutine of the host is left.
func TestShutdownDrains(t *testing.T) {
	tn := startTailnet(t)
	before, _ := ourGoroutines()
	fdsBefore := openFDs(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logBuffer{}
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	slow := &slowProvider{started: make(chan struct{}, 1), release: make(chan struct{}), closed: make(chan struct{})}
	cfg := testConfig(tn.net.ControlURL)
	cfg.Tailnet.Hostname = "draining"
	cfg.MCP.ShutdownGrace = 30 * time.Second
	host, err := server.New(server.Options{
		Config: cfg,
		Logger: newTestLogger(logs),
		Tools:  server.Providers(tools.Builtin{}, slow),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- host.Run(runCtx) }()
	select {
	case <-host.Ready():
	case err := <-runErr:
		t.Fatal(err)
	}
	base := "http://" + host.TailnetIP().String()
	readyz := "http://" + host.HealthAddr().String() + "/readyz"
	if code, _ := get(t, http.DefaultClient, readyz); code != http.StatusOK {
		t.Fatalf("readyz before shutdown = %d, want 200", code)
	}
	alice := tn.callers()[0]

	// An open legacy SSE stream, idle.
	_, sseStream, _ := openSSE(t, ctx, alice.httpClient(), base)
	// An open session-based Streamable HTTP stream (GET /mcp), idle.
	init := postMCP(t, alice.httpClient(), base+"/mcp", strings.NewReader(initializeBody), nil)
	getResp := sendMCP(ctx, t, alice.httpClient(), http.MethodGet, base+"/mcp", nil, sessionHeaders(init.Header.Get("Mcp-Session-Id")))
	if getResp.StatusCode != http.StatusOK {
		t.Fatalf("GET /mcp stream: status %d", getResp.StatusCode)
	}

	// Calls in flight on both transports: over SSE the result travels on
	// the stream, so the stream must outlive the call.
	client := sdk.NewClient(&sdk.Implementation{Name: "drain", Version: "1"}, nil)
	transports := []sdk.Transport{
		&sdk.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: alice.httpClient(), MaxRetries: -1},
		&sdk.SSEClientTransport{Endpoint: base + "/sse", HTTPClient: alice.httpClient()},
	}
	callDone := make(chan error, len(transports))
	for _, tr := range transports {
		cs, err := client.Connect(ctx, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		go func() {
			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "slow"})
			if err == nil && (res.IsError || len(res.Content) == 0) {
				err = errorf("slow returned %+v", res)
			}
			if err != nil {
				err = errorf("%T: %w", tr, err)
			}
			callDone <- err
		}()
		<-slow.started
	}

	stop() // as SIGTERM does

	// Readiness flips before anything else finishes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, http.DefaultClient, readyz)
		if code == http.StatusServiceUnavailable && body == "draining\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never turned 503 during the drain (last %d %q)", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-runErr:
		t.Fatalf("Run returned (%v) with a call in flight, before the grace period", err)
	default:
	}

	close(slow.release)
	for range transports {
		if err := <-callDone; err != nil {
			t.Fatalf("in-flight call: %v", err)
		}
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a clean drain", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("Run did not return after the calls finished")
	}
	// The idle streams were closed by the host (well before ctx expires).
	mustEnd(t, "legacy SSE stream", sseStream)
	mustEnd(t, "Streamable HTTP GET stream", getResp.Body)
	select {
	case <-slow.closed:
	default:
		t.Error("the tool provider was not closed")
	}
	// Nothing of the host is left running or open.
	var after, fdsAfter int
	var stacks string
	for i := 0; i < 100; i++ {
		after, stacks = ourGoroutines()
		fdsAfter = openFDs(t)
		if after <= before && fdsAfter <= fdsBefore {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after shutdown: host goroutines %d (before %d), open fds %d (before %d):\n%s", after, before, fdsAfter, fdsBefore, stacks)
}

// openFDs counts the process's open file descriptors (sockets, files).
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("this test needs Linux /proc: %v", err)
	}
	return len(fds)
}

// mustEnd fails the test unless r reaches its end within 10 seconds.
func mustEnd(t *testing.T, name string, r io.Reader) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Logf("%s ended with %v", name, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still open after the host stopped", name)
	}
}

// TestRunFailsWhenControlUnreachable: a node that cannot log in gets a
// clear error within tailnet.up_timeout, and the health listener is closed.
func TestRunFailsWhenControlUnreachable(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1") // nothing listens there
	cfg.Tailnet.UpTimeout = 2 * time.Second
	host, err := server.New(server.Options{Config: cfg, Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	err = host.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "tailnet.up_timeout") {
		t.Fatalf("Run = %v, want an error naming tailnet.up_timeout", err)
	}
	if _, err := http.Get("http://" + host.HealthAddr().String() + "/health"); err == nil {
		t.Fatal("health listener still serving after Run returned")
	}
}

// TestStopWhileJoining: SIGTERM while the node is still logging in is a
// clean stop, not an error.
func TestStopWhileJoining(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1") // never answers
	cfg.Tailnet.UpTimeout = time.Minute
	host, err := server.New(server.Options{Config: cfg, Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- host.Run(ctx) }()
	<-host.Started()
	if code, body := get(t, http.DefaultClient, "http://"+host.HealthAddr().String()+"/readyz"); code != http.StatusServiceUnavailable || body != "starting\n" {
		t.Fatalf("readyz while joining = %d %q, want 503 starting", code, body)
	}
	if code, _ := get(t, http.DefaultClient, "http://"+host.HealthAddr().String()+"/health"); code != http.StatusOK {
		t.Fatalf("health while joining = %d, want 200 (liveness must not depend on the control plane)", code)
	}
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel while joining")
	}
}
