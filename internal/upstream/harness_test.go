package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tools"
)

func TestMain(m *testing.M) {
	if os.Getenv(testServerEnv) != "" {
		runTestServer()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// guard bounds waits that should end promptly, so that a bug fails the
// test with a message instead of hanging it. It is not a timing assertion.
const guard = 20 * time.Second

// testUpstream is a stdio upstream running this test binary as the server.
func testUpstream(t *testing.T, name string) config.Upstream {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return config.Upstream{
		Name:    name,
		Command: []string{exe},
		Env:     map[string]string{testServerEnv: "1", "TSMCP_TEST_CFG": "from-config"},
	}
}

type harness struct {
	t       *testing.T
	p       *Provider
	logs    *testutil.Buffer
	changed chan struct{}
}

// testOptions are fast backoffs; StartWait is long so that Tools sees the
// first listing of a healthy upstream (it returns as soon as every upstream
// made its first attempt).
func testOptions() Options {
	return Options{
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  100 * time.Millisecond,
		StartWait:   guard,
	}
}

// newHarness starts a provider for cfg and, at cleanup, closes it and
// checks that no child process, goroutine or file descriptor is left over.
func newHarness(t *testing.T, cfg []config.Upstream, opts Options) *harness {
	t.Helper()
	goroutines := runtime.NumGoroutine()
	fds := testutil.OpenFDs(t)
	logs := &testutil.Buffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, p: p, logs: logs, changed: make(chan struct{}, 1000)}
	p.OnToolsChanged(func() {
		select {
		case h.changed <- struct{}{}:
		default:
		}
	})
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if kids := testutil.ChildPIDs(t); len(kids) > 0 {
			t.Errorf("child processes left after Close: %v", kids)
		}
		waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
		waitFor(t, "file descriptors to close", func() bool { return testutil.OpenFDs(t) <= fds })
		if t.Failed() {
			lines := strings.Split(logs.String(), "\n")
			if len(lines) > 150 {
				lines = append([]string{"…"}, lines[len(lines)-150:]...)
			}
			t.Logf("logs:\n%s", strings.Join(lines, "\n"))
		}
	})
	return h
}

// waitFor polls cond until it holds; after guard it fails the test with a
// dump of the goroutines.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, guard, what, cond)
}

// in returns h reporting to t (a subtest).
func (h *harness) in(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

func (h *harness) tool(name string) tools.Tool {
	h.t.Helper()
	ts, err := h.p.Tools(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, tl := range ts {
		if tl.Tool.Name == name {
			return tl
		}
	}
	h.t.Fatalf("tool %s not found in %v", name, tools.Names(ts))
	return tools.Tool{}
}

// call calls a bridged tool with args, as the host would.
func (h *harness) call(ctx context.Context, name string, args any) *mcp.CallToolResult {
	h.t.Helper()
	return callTool(h.t, ctx, h.tool(name), args)
}

func callTool(t *testing.T, ctx context.Context, tl tools.Tool, args any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tl.Tool.Name
	if raw, ok := args.(string); ok {
		// Raw JSON arguments, as they arrive on the wire.
		if err := json.Unmarshal([]byte(raw), &req.Params); err != nil {
			t.Fatal(err)
		}
	} else if args != nil {
		b, _ := json.Marshal(map[string]any{"name": tl.Tool.Name, "arguments": args})
		if err := json.Unmarshal(b, &req.Params); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tl.Handler(ctx, req)
	if err != nil {
		t.Fatalf("%s: handler error %v (want tool errors only)", tl.Tool.Name, err)
	}
	if res == nil {
		t.Fatalf("%s: nil result", tl.Tool.Name)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// wantText fails unless res is a success whose text is want.
func wantText(t *testing.T, res *mcp.CallToolResult, want string) {
	t.Helper()
	if res.IsError || resultText(res) != want {
		t.Fatalf("result = %q (isError %v), want %q", resultText(res), res.IsError, want)
	}
}

// wantError fails unless res is a tool error whose text is want.
func wantError(t *testing.T, res *mcp.CallToolResult, want string) {
	t.Helper()
	if !res.IsError || resultText(res) != want {
		t.Fatalf("result = %q (isError %v), want error %q", resultText(res), res.IsError, want)
	}
}

func alice(ctx context.Context) context.Context {
	return identity.NewContext(ctx, &identity.Identity{LoginName: "alice@example.com", NodeName: "alice-laptop", NodeID: "n1"})
}

func bob(ctx context.Context) context.Context {
	return identity.NewContext(ctx, &identity.Identity{LoginName: "bob@example.com", NodeName: "bob-desktop", NodeID: "n2"})
}

func ciNode(ctx context.Context) context.Context {
	return identity.NewContext(ctx, &identity.Identity{NodeName: "ci-runner", NodeID: "n3", Tags: []string{"tag:ci", "tag:prod"}})
}

// waitStatus waits until the named upstream's Up is up.
func (h *harness) waitStatus(name string, up bool) {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%s up=%v", name, up), func() bool {
		for _, s := range h.p.Status() {
			if s.Name == name {
				return s.Up == up
			}
		}
		return false
	})
}

func (h *harness) status(name string) tools.Status {
	for _, s := range h.p.Status() {
		if s.Name == name {
			return s
		}
	}
	h.t.Fatalf("no status for %s", name)
	return tools.Status{}
}

// waitLog waits until a log record with msg has appeared.
func (h *harness) waitLog(msg string) {
	h.t.Helper()
	waitFor(h.t, "log "+msg, func() bool { return len(h.logs.JSONLines(msg)) > 0 })
}
