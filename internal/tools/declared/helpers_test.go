package declared

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// argvTool is an exec tool that prints its argv (after a fixed first
// element), each argument followed by a NUL: printf "%s\0" ARGV args….
func argvTool(name string, args []string, params map[string]config.Param) config.Tool {
	return config.Tool{
		Name:   name,
		Exec:   &config.ExecTool{Command: append([]string{"printf", `%s\0`, "ARGV"}, args...)},
		Params: params,
	}
}

// parseArgv parses argvTool's output.
func parseArgv(t *testing.T, out string) []string {
	t.Helper()
	parts := strings.Split(out, "\x00")
	if len(parts) < 2 || parts[0] != "ARGV" || parts[len(parts)-1] != "" {
		t.Fatalf("not argvTool output: %q", out)
	}
	return parts[1 : len(parts)-1]
}

// shTool is an exec tool running sh -c script.
func shTool(name, script string) config.Tool {
	return config.Tool{Name: name, Exec: &config.ExecTool{Command: []string{"sh", "-c", script}}}
}

// env returns a LookupEnv over m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// testEnv is the environment tests give providers: a usable PATH.
func testEnv() map[string]string {
	return map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
}

// newProvider builds a provider whose log goes to the returned buffer,
// closed at the end of the test.
func newProvider(t *testing.T, cfg []config.Tool, opts Options) (*Provider, *testutil.Buffer) {
	t.Helper()
	logs := &testutil.Buffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.LookupEnv == nil {
		opts.LookupEnv = env(testEnv())
	}
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, logs
}

// callRaw calls the tool name with raw JSON arguments, as a client would.
func callRaw(t *testing.T, ctx context.Context, p *Provider, name, args string) *mcp.CallToolResult {
	t.Helper()
	ts, _ := p.Tools(ctx)
	for _, tool := range ts {
		if tool.Tool.Name != name {
			continue
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = name
		if args != "" {
			req.Params.RawArguments = json.RawMessage(args)
		}
		res, err := tool.Handler(ctx, req)
		if err != nil {
			t.Fatalf("handler returned a Go error: %v", err)
		}
		if res == nil {
			t.Fatal("handler returned no result")
		}
		return res
	}
	t.Fatalf("no tool %q", name)
	return nil
}

// call calls the tool name with args marshalled to JSON.
func call(t *testing.T, p *Provider, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return callRaw(t, context.Background(), p, name, string(b))
}

// text joins a result's text contents.
func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// mustOK fails unless res is a success and returns its text.
func mustOK(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %s", text(res))
	}
	return text(res)
}

// mustFail fails unless res is a tool error containing want.
func mustFail(t *testing.T, res *mcp.CallToolResult, want string) string {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want a tool error containing %q, got success: %s", want, text(res))
	}
	if !strings.Contains(text(res), want) {
		t.Fatalf("tool error %q does not contain %q", text(res), want)
	}
	return text(res)
}

// eventually polls cond until it holds or the test's patience ends.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether pid no longer runs: no such process, or a zombie
// that is not ours to reap (it was reparented; init reaps it).
func gone(pid int) bool {
	st, ppid, ok := testutil.ProcState(pid)
	return !ok || (st == "Z" && ppid != os.Getpid())
}

// handlerOf returns the handler of tool name, for goroutines (which must
// not call t.Fatal).
func handlerOf(t *testing.T, p *Provider, name string) func(context.Context, string) (string, bool) {
	t.Helper()
	ts, _ := p.Tools(context.Background())
	for _, tool := range ts {
		if tool.Tool.Name == name {
			return func(ctx context.Context, args string) (string, bool) {
				req := mcp.CallToolRequest{}
				req.Params.Name = name
				req.Params.RawArguments = json.RawMessage(args)
				res, err := tool.Handler(ctx, req)
				if err != nil || res == nil {
					return fmt.Sprintf("handler error %v", err), true
				}
				return text(res), res.IsError
			}
		}
	}
	t.Fatalf("no tool %q", name)
	return nil
}
