package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

func TestToolsBridgedWithRawSchema(t *testing.T) {
	h := newHarness(t, []config.Upstream{testUpstream(t, "t")}, testOptions())
	ts, err := h.p.Tools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := tools.Names(ts)
	for _, want := range []string{"t__echo", "t__count", "t__crash", "t__noschema"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools %v lack %s", names, want)
		}
	}
	for _, n := range names {
		if !tools.NamePattern.MatchString(n) {
			t.Errorf("bridged name %q does not match %s", n, tools.NamePattern)
		}
	}
	if _, err := tools.Collect(context.Background(), []tools.Provider{h.p}); err != nil {
		t.Errorf("tools.Collect refuses the bridged tools: %v", err)
	}
	if got := len(h.logs.JSONLines("upstream tool skipped: bridged name invalid")); got != 2 {
		t.Errorf("%d skipped-name log lines, want 2 (\"bad name\" and the 70-character name)", got)
	}

	echo := h.tool("t__echo")
	b, err := json.Marshal(echo.Tool)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, want string
	}{
		{name: "input schema byte for byte", key: "inputSchema", want: echoSchema},
		{name: "output schema byte for byte", key: "outputSchema", want: echoOutputSchema},
		{name: "description", key: "description", want: `"Echoes text"`},
		{name: "title", key: "title", want: `"Echo tool"`},
		{name: "annotations", key: "annotations", want: `{"title":"Echo","readOnlyHint":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(got[tc.key]) != tc.want {
				t.Errorf("%s = %s, want %s", tc.key, got[tc.key], tc.want)
			}
		})
	}
	noschema := h.tool("t__noschema")
	if string(noschema.Tool.RawInputSchema) != `{"type":"object"}` {
		t.Errorf("tool without inputSchema got %s, want an empty object schema", noschema.Tool.RawInputSchema)
	}
	if s := h.status("t"); !s.Up || s.Detail != "" {
		t.Errorf("status = %+v, want up", s)
	}
}

func TestCallsForwarded(t *testing.T) {
	h := newHarness(t, []config.Upstream{testUpstream(t, "t")}, testOptions())
	ctx := context.Background()
	tests := []struct {
		name    string
		tool    string
		args    any
		want    string
		isError bool
		check   func(t *testing.T, res *mcp.CallToolResult)
	}{
		{name: "echo", tool: "t__echo", args: map[string]any{"text": "hello"}, want: "hello",
			check: func(t *testing.T, res *mcp.CallToolResult) {
				b, _ := json.Marshal(res.StructuredContent)
				if string(b) != `{"text":"hello"}` {
					t.Errorf("structuredContent = %s", b)
				}
			}},
		{name: "isError passed back", tool: "t__fail", want: "it failed", isError: true},
		{name: "arguments verbatim, big integers included", tool: "t__args",
			args: `{"name":"t__args","arguments":{"n":12345678901234567890,"s":"a\u00e9","nested":{"x":[1,2.50,true,null]}}}`,
			want: `{"n":12345678901234567890,"s":"a\u00e9","nested":{"x":[1,2.50,true,null]}}`},
		{name: "null arguments sent as none", tool: "t__args",
			args: `{"name":"t__args","arguments":null}`, want: ``},
		{name: "JSON-RPC error becomes a generic tool error", tool: "t__rpcerror", want: "upstream t returned an error", isError: true,
			check: func(t *testing.T, res *mcp.CallToolResult) {
				if !strings.Contains(h.logs.String(), "secret internal detail") {
					t.Errorf("the upstream's error detail is not in the log")
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			res := h.call(ctx, tc.tool, tc.args)
			if resultText(res) != tc.want || res.IsError != tc.isError {
				t.Fatalf("result = %q (isError %v), want %q (isError %v)", resultText(res), res.IsError, tc.want, tc.isError)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

// pidOf returns the pid of the shared test server child.
func (h *harness) pidOf(ctx context.Context, tool string) int {
	h.t.Helper()
	res := h.call(ctx, tool, nil)
	pid, err := strconv.Atoi(resultText(res))
	if err != nil {
		h.t.Fatalf("pid: %q", resultText(res))
	}
	return pid
}

func TestChildDiesMidCall(t *testing.T) {
	tests := []struct {
		name   string
		kill   func(t *testing.T, h *harness, pid int) // ends the child while t__sleep runs
		reason string                                  // in the log
	}{
		{name: "kill -9", reason: "signal: killed", kill: func(t *testing.T, h *harness, pid int) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "exits by itself", reason: "exit status 7", kill: func(t *testing.T, h *harness, pid int) {
			wantError(t, h.call(context.Background(), "t__crash", nil), "upstream t is unavailable")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := testUpstream(t, "t")
			u.Timeout = time.Hour // an error before this proves the call was failed promptly
			h := newHarness(t, []config.Upstream{u}, testOptions())
			ctx := context.Background()
			pid := h.pidOf(ctx, "t__pid")

			sleepDone := make(chan *mcp.CallToolResult, 1)
			sleep := h.tool("t__sleep")
			before := h.sleeps()
			go func() { sleepDone <- callTool(t, ctx, sleep, map[string]any{"ms": 3600000}) }()
			waitFor(t, "the sleep call to reach the child", func() bool { return h.sleeps() > before })
			tc.kill(t, h, pid)
			select {
			case res := <-sleepDone:
				wantError(t, res, "upstream t is unavailable")
			case <-time.After(guard):
				t.Fatal("the in-flight call did not end after the child died")
			}
			// Restarted: the next call works, on a new process.
			newPID := h.pidOf(ctx, "t__pid")
			if !strings.Contains(h.logs.String(), tc.reason) {
				t.Errorf("log lacks the exit reason %q", tc.reason)
			}
			if newPID == pid {
				t.Errorf("pid %d unchanged after the child died", pid)
			}
			wantText(t, h.call(ctx, "t__echo", map[string]any{"text": "again"}), "again")
			if testutil.Alive(pid) {
				t.Errorf("old child %d still exists", pid)
			}
		})
	}
}

// Processes a child leaves in its process group die with it: when it
// exits by itself, and when Close stops it.
func TestGrandchildrenKilled(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, h *harness) // ends the child
	}{
		{name: "child crashes", end: func(t *testing.T, h *harness) {
			wantError(t, h.call(context.Background(), "t__crash", nil), "upstream t is unavailable")
		}},
		{name: "Close", end: func(t *testing.T, h *harness) {
			if err := h.p.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, []config.Upstream{testUpstream(t, "t")}, testOptions())
			pid := h.pidOf(context.Background(), "t__spawn")
			if !testutil.Alive(pid) {
				t.Fatalf("spawned sleep %d is not running", pid)
			}
			tc.end(t, h)
			waitFor(t, fmt.Sprintf("the grandchild %d to be killed", pid), func() bool { return !testutil.Alive(pid) })
		})
	}
}

// sleeps counts the "sleep start" lines the test server wrote to stderr:
// once it grows, a t__sleep call is in flight in the child.
func (h *harness) sleeps() int {
	n := 0
	for _, rec := range h.logs.JSONLines("upstream stderr") {
		if rec["line"] == "sleep start" {
			n++
		}
	}
	return n
}

func TestHostileOutputLeavesUpstreamHealthy(t *testing.T) {
	u := testUpstream(t, "t")
	h := newHarness(t, []config.Upstream{u}, testOptions())
	ctx := context.Background()
	pid := h.pidOf(ctx, "t__pid")
	tests := []struct {
		name string
		tool string
		args any
		want string
		log  string // a log record that must appear
	}{
		{name: "50 MB stdout line", tool: "t__big", want: "after big", log: "upstream stdout line too long, discarded"},
		{name: "non-JSON stdout", tool: "t__garbage", want: "after garbage", log: "upstream stdout line is not JSON, dropped"},
		{name: "stderr flood", tool: "t__flood", args: map[string]any{"lines": 200000}, want: "after flood", log: "upstream stderr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			wantText(t, h.call(ctx, tc.tool, tc.args), tc.want)
			h.waitLog(tc.log)
			wantText(t, h.call(ctx, "t__echo", map[string]any{"text": "still fine"}), "still fine")
			if got := h.pidOf(ctx, "t__pid"); got != pid {
				t.Errorf("child restarted (pid %d → %d); hostile output must not kill it", pid, got)
			}
		})
	}
	big := h.logs.JSONLines("upstream stdout line too long, discarded")
	if n, _ := big[0]["bytes"].(float64); n < 50<<20 {
		t.Errorf("discarded line logged as %v bytes, want ≥ 50 MB", big[0]["bytes"])
	}
	if got := len(h.logs.JSONLines("upstream stdout line is not JSON, dropped")); got != 4 {
		t.Errorf("%d non-JSON lines logged, want 4 (blank lines are skipped silently)", got)
	}
	stderr := h.logs.JSONLines("upstream stderr")
	if len(stderr) >= 200000 {
		t.Errorf("all %d flood lines were logged; want a bound", len(stderr))
	}
	for _, rec := range stderr {
		if line, _ := rec["line"].(string); len(line) > conn.MaxStderrLine {
			t.Fatalf("stderr line of %d bytes logged, want ≤ %d", len(line), conn.MaxStderrLine)
		}
	}
	// The count of dropped lines is logged at the latest when the stream ends.
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for _, rec := range h.logs.JSONLines("upstream output dropped") {
		if rec["stream"] == "stderr" {
			n, _ := rec["lines"].(float64)
			dropped += int(n)
		}
	}
	if dropped == 0 || dropped+len(stderr) < 200000 {
		t.Errorf("logged %d stderr lines and %d dropped, want them to account for the 200000 (+1 start) lines", len(stderr), dropped)
	}
}

func TestListChangedPropagates(t *testing.T) {
	h := newHarness(t, []config.Upstream{testUpstream(t, "t")}, testOptions())
	ctx := context.Background()
	h.tool("t__echo")
	drain(h.changed)
	wantText(t, h.call(ctx, "t__addtool", nil), "added")
	select {
	case <-h.changed:
	case <-time.After(guard):
		t.Fatal("no OnToolsChanged callback after list_changed")
	}
	wantText(t, h.call(ctx, "t__extra", nil), "extra")

	// A restarted child re-lists: the new process does not have extra.
	drain(h.changed)
	pid := h.pidOf(ctx, "t__pid")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.changed:
	case <-time.After(guard):
		t.Fatal("no OnToolsChanged callback after the restarted child listed fewer tools")
	}
	ts, _ := h.p.Tools(ctx)
	if slices.Contains(tools.Names(ts), "t__extra") {
		t.Errorf("t__extra still listed after the restart: %v", tools.Names(ts))
	}
}

func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func TestCallerCancellationAndTimeout(t *testing.T) {
	u := testUpstream(t, "t")
	u.Timeout = time.Hour
	short := testUpstream(t, "short")
	short.Timeout = 100 * time.Millisecond
	h := newHarness(t, []config.Upstream{u, short}, testOptions())

	t.Run("caller cancels", func(t *testing.T) {
		h := h.in(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan *mcp.CallToolResult, 1)
		sleep := h.tool("t__sleep")
		before := h.sleeps()
		go func() { done <- callTool(t, ctx, sleep, map[string]any{"ms": 3600000}) }()
		waitFor(t, "the sleep call to reach the child", func() bool { return h.sleeps() > before })
		cancel()
		wantError(t, <-done, "upstream t call was cancelled")
		// mcp-go sends notifications/cancelled; the child records it.
		waitFor(t, "notifications/cancelled to reach the child", func() bool {
			return resultText(h.call(context.Background(), "t__cancelled", nil)) != ""
		})
	})
	t.Run("timeout", func(t *testing.T) {
		h := h.in(t)
		wantError(t, h.call(context.Background(), "short__sleep", map[string]any{"ms": 3600000}), "upstream short timed out")
		wantText(t, h.call(context.Background(), "short__echo", map[string]any{"text": "ok"}), "ok")
	})
}

func TestDownUpstreamDoesNotAffectOthers(t *testing.T) {
	missing := config.Upstream{Name: "missing", Command: []string{"/nonexistent/tsmcp-test-server"}}
	exits := testUpstream(t, "exits")
	exits.Env[testServerEnv] = "exit"
	good := testUpstream(t, "good")
	h := newHarness(t, []config.Upstream{missing, exits, good}, testOptions())
	ctx := context.Background()

	ts, err := h.p.Tools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tools.Names(ts) {
		if !strings.HasPrefix(n, "good__") {
			t.Errorf("tool %s listed from a down upstream", n)
		}
	}
	wantText(t, h.call(ctx, "good__echo", map[string]any{"text": "up"}), "up")
	tests := []struct {
		name, upstream, detail string
	}{
		{name: "command not found", upstream: "missing", detail: "no such file or directory"},
		{name: "exits at start", upstream: "exits", detail: "exit status 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			waitFor(t, "status detail", func() bool {
				return strings.Contains(h.status(tc.upstream).Detail, tc.detail)
			})
			if s := h.status(tc.upstream); s.Up || !strings.Contains(s.Detail, "restarting") {
				t.Errorf("status = %+v, want down and restarting", s)
			}
		})
	}
	if s := h.status("good"); !s.Up {
		t.Errorf("good upstream status = %+v, want up", s)
	}
	if !strings.Contains(h.logs.String(), "test server: exiting at once") {
		t.Errorf("the child's stderr is not in the log")
	}
}

func TestManyCallsNoLeaks(t *testing.T) {
	h := newHarness(t, []config.Upstream{testUpstream(t, "t")}, testOptions())
	ctx := context.Background()
	echo := h.tool("t__echo")
	wantText(t, callTool(t, ctx, echo, map[string]any{"text": "warm"}), "warm")
	fds := testutil.OpenFDs(t)
	const n = 3000
	for i := range n {
		res := callTool(t, ctx, echo, map[string]any{"text": strconv.Itoa(i)})
		if resultText(res) != strconv.Itoa(i) {
			t.Fatalf("call %d: %q", i, resultText(res))
		}
	}
	if got := testutil.OpenFDs(t); got > fds {
		t.Errorf("%d fds after %d calls, %d before", got, n, fds)
	}
	if kids := testutil.ChildPIDs(t); len(kids) != 1 {
		t.Errorf("child processes %v, want exactly the one server", kids)
	}
}

func TestToolsDoesNotWaitForSlowUpstream(t *testing.T) {
	hang := testUpstream(t, "hang")
	hang.Env[testServerEnv] = "hang"
	good := testUpstream(t, "good")
	opts := testOptions()
	opts.StartWait = 50 * time.Millisecond
	h := newHarness(t, []config.Upstream{good, hang}, opts)
	// Once good has listed, Tools returns after StartWait at most, with
	// what is known: good's tools, none of hang's.
	waitFor(t, "good to be up", func() bool { return h.status("good").Up })
	ts, err := h.p.Tools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tools.Names(ts) {
		if strings.HasPrefix(n, "hang__") {
			t.Errorf("tool %s from an upstream that never answered", n)
		}
	}
	if !slices.Contains(tools.Names(ts), "good__echo") {
		t.Errorf("tools %v lack good__echo", tools.Names(ts))
	}
	if s := h.status("hang"); s.Up || s.Detail != "starting" {
		t.Errorf("hang status = %+v, want down, starting", s)
	}
	h.waitLog("upstream stderr") // the hung child runs; Close must still reap it
}
