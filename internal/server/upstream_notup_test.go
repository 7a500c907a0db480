package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// gatedUpstream is the stdio test server started only once the file gate
// exists: an upstream that takes as long to start as the test wants (npx
// downloading a package, say).
func gatedUpstream(t *testing.T, name, gate string) config.Upstream {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return config.Upstream{
		Name:    name,
		Command: []string{"sh", "-c", `while [ ! -e "$TSMCP_TEST_GATE" ]; do sleep 0.02; done; exec "$0"`, self},
		Env:     map[string]string{stdioServerEnv: "1", "TSMCP_TEST_GATE": gate},
	}
}

// waitReadyz polls /readyz until it answers code with a body starting
// with prefix.
func waitReadyz(ctx context.Context, t *testing.T, host *server.Server, code int, prefix string) {
	t.Helper()
	url := "http://" + host.HealthAddr().String() + "/readyz"
	for {
		gotCode, gotBody := get(t, http.DefaultClient, url)
		if gotCode == code && strings.HasPrefix(gotBody, prefix) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/readyz = %d %q, want %d %q...", gotCode, gotBody, code, prefix)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// killGated kills the child of gatedUpstream waiting on (or serving past)
// gate.
func killGated(t *testing.T, gate string) {
	t.Helper()
	for _, pid := range testutil.ChildPIDs(t) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), "TSMCP_TEST_GATE="+gate) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no child waits on %s", gate)
}

// TestUpstreamNotUpYet: until an upstream has come up once, /readyz says
// the host is waiting for it (503), and a call of one of its tools, which
// the host cannot know yet, gets a tool error saying it is starting, for a
// caller whose policy allows the name; for anyone else the tool does not
// exist, as before. An upstream that failed before ever coming up is
// "unavailable". Once the upstream is up, the host is ready and the call
// works.
func TestUpstreamNotUpYet(t *testing.T) {
	tn := startTailnet(t)
	alice, bob, ci := tn.callers()[0], tn.callers()[1], tn.callers()[2]
	gate := filepath.Join(t.TempDir(), "gate")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "notup", logs, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{Capability: acl.DefaultCapability, Rules: []acl.Rule{
			{Src: []string{alice.login}, Tools: []string{"whoami", "slow__*", "broken__*", "nothere"}},
			{Src: []string{"tag:ci"}, Tools: []string{"*"}},
			{Src: []string{"*"}, Tools: []string{"whoami"}},
		}}
		c.Upstreams = []config.Upstream{gatedUpstream(t, "slow", gate), {Name: "broken", Command: []string{"false"}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	as := streamableSession(ctx, t, endpoint, alice)
	bs := streamableSession(ctx, t, endpoint, bob)

	// The host is serving (Ready), but not ready for traffic.
	waitReadyz(ctx, t, host, http.StatusServiceUnavailable,
		"waiting for upstreams\nupstream slow: down (starting)\nupstream broken: down (restarting")

	call := func(s *sdk.ClientSession, name string) (*sdk.CallToolResult, error) {
		return s.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: map[string]any{"text": "hi"}})
	}
	toolError := func(t *testing.T, res *sdk.CallToolResult, err error, want string) {
		t.Helper()
		if err != nil {
			t.Fatalf("err = %v, want the tool error %q", err, want)
		}
		if !res.IsError || len(res.Content) != 1 || res.Content[0].(*sdk.TextContent).Text != want {
			t.Fatalf("result = %+v, want the tool error %q", res, want)
		}
	}
	notFound := func(t *testing.T, res *sdk.CallToolResult, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "upstream") {
			t.Fatalf("result %+v, err %v; want tool not found", res, err)
		}
	}
	t.Run("allowed caller is told the upstream is starting", func(t *testing.T) {
		res, err := call(as, "slow__echo")
		toolError(t, res, err, "upstream slow is starting; try again in a few seconds")
		if lines := logs.JSONLines("tool_call"); !slices.ContainsFunc(lines, func(l map[string]any) bool {
			return l["tool"] == "slow__echo" && l["decision"] == "allow" && l["outcome"] == "tool_error"
		}) {
			t.Errorf("no audit line for alice's call; tool_call lines: %v", lines)
		}
	})
	t.Run("an upstream that failed before coming up is unavailable", func(t *testing.T) {
		res, err := call(as, "broken__echo")
		toolError(t, res, err, "upstream broken is unavailable")
	})
	t.Run("refused caller: no such tool", func(t *testing.T) {
		res, err := call(bs, "slow__echo")
		notFound(t, res, err)
	})
	t.Run("an allowed name outside every upstream: no such tool", func(t *testing.T) {
		res, err := call(as, "nothere")
		notFound(t, res, err)
		if lines := logs.JSONLines("tool_call"); !slices.ContainsFunc(lines, func(l map[string]any) bool {
			return l["tool"] == "nothere" && l["decision"] == "deny" && l["reason"] == "no such tool"
		}) {
			t.Errorf("no audit line for the call of nothere; tool_call lines: %v", lines)
		}
	})
	t.Run("the routing tool cannot be called or seen", func(t *testing.T) {
		// ci may use every tool ("*").
		cs := streamableSession(ctx, t, endpoint, ci)
		for _, s := range []*sdk.ClientSession{as, bs, cs} {
			res, err := call(s, "tsmcp:upstream-not-up")
			notFound(t, res, err)
			if names := toolNames(ctx, t, s); !slices.Equal(names, []string{"whoami"}) {
				t.Errorf("tools = %v, want [whoami]", names)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+host.TailnetIP().String()+"/", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := ci.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `"whoami"`) || strings.Contains(string(page), "not-up") {
			t.Errorf("identity page = %d %s; want whoami and no routing tool", resp.StatusCode, page)
		}
	})
	waitReadyz(ctx, t, host, http.StatusServiceUnavailable,
		"waiting for upstreams\nupstream slow: down (starting)\nupstream broken: down (restarting")

	// slow comes up; broken never does.
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for !slices.Contains(toolNames(ctx, t, as), "slow__echo") {
		select {
		case <-ctx.Done():
			t.Fatal("slow__echo never listed")
		case <-time.After(20 * time.Millisecond):
		}
	}
	res, err := call(as, "slow__echo")
	if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "hi" {
		t.Fatalf("slow__echo once up = %+v, %v; want hi", res, err)
	}
	waitReadyz(ctx, t, host, http.StatusServiceUnavailable, "waiting for upstreams\nupstream slow: up\nupstream broken: down")
}

// TestReadyzWaitsForUpstreamsUntilUp: with the default
// health.wait_for_upstreams, /readyz turns 200 once every upstream has come
// up, and stays 200 when one goes down afterwards (the host's other tools
// serve).
func TestReadyzWaitsForUpstreamsUntilUp(t *testing.T) {
	tn := startTailnet(t)
	gate := filepath.Join(t.TempDir(), "gate")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "readyz-wait", &logBuffer{}, func(c *config.Config, _ *server.Options) {
		c.Upstreams = []config.Upstream{gatedUpstream(t, "slow", gate)}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	waitReadyz(ctx, t, host, http.StatusServiceUnavailable, "waiting for upstreams\nupstream slow: down (starting)\n")
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitReadyz(ctx, t, host, http.StatusOK, "ready\nupstream slow: up\n")

	// Down after having been up (killed, and held at the gate when
	// restarted): still ready, the upstream shown down.
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	killGated(t, gate)
	waitReadyz(ctx, t, host, http.StatusOK, "ready\nupstream slow: down (restarting")
}
